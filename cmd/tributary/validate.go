package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/pipeline"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a pipeline file and report every error with its path and line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := loadSpec(args[0])
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
			return nil
		},
	}
}

// loadSpec parses and validates a pipeline file.
func loadSpec(path string) (*pipeline.Spec, error) {
	spec, err := pipeline.Load(path, nil)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return spec, nil
}

// printSpecErrors writes one line per problem as "file:line: path: message",
// the shape editors and CI logs link to.
func printSpecErrors(cmd *cobra.Command, file string, err error) {
	var errs pipeline.Errors
	if !errors.As(err, &errs) {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
		return
	}
	for _, e := range errs {
		loc := file
		if e.Line > 0 {
			loc = fmt.Sprintf("%s:%d", file, e.Line)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s: %s\n", loc, e.Path, e.Msg)
	}
}
