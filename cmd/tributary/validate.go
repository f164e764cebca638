package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/pipeline"
)

func newValidateCmd() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a pipeline file and report every error with its path and line",
		Long: `Check a pipeline file and report every error with its path and line.

After the file itself, the source is asked for its catalog (as discover does)
and every step is planned on each stream's schema, so steps and rules naming
columns a stream does not have are reported too. --offline skips that part.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0])
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			if !offline {
				errs, err := checkAgainstSource(cmd.Context(), spec)
				switch {
				case err != nil:
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: steps not checked against the source's schema: %v\n", args[0], err)
				case len(errs) > 0:
					printSpecErrors(cmd, args[0], errs)
					return exitError{1}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "check the file only, without asking the source for its schema")
	return cmd
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
