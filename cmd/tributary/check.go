package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
)

func newCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Test that the pipeline's source and destination can be reached",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0])
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			ctx := cmd.Context()
			failed := false
			report := func(what, name string, err error) {
				if err != nil {
					failed = true
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s: FAILED: %v\n", what, name, err)
					return
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: ok\n", what, name)
			}
			src, err := engine.OpenSource(ctx, spec)
			if err == nil {
				err = src.Check(ctx)
				src.Close()
			}
			report("source", spec.Source.Connector, err)
			dst, err := engine.OpenDestination(ctx, spec)
			if err == nil {
				err = dst.Check(ctx)
				dst.Close()
			}
			report("destination", spec.Destination.Connector, err)
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
}

func newDiscoverCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "discover FILE",
		Short: "Print the source's catalog: streams, columns, types, keys, cursor candidates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := pipeline.Load(args[0], nil)
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			src, err := engine.OpenSource(cmd.Context(), spec)
			if err != nil {
				return err
			}
			defer src.Close()
			cat, err := src.Discover(cmd.Context())
			if err != nil {
				return fmt.Errorf("discover: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(cat)
			}
			w := cmd.OutOrStdout()
			for _, s := range cat.Streams {
				fmt.Fprintf(w, "stream %s\n", s.Name)
				fmt.Fprintf(w, "  primary key:       %s\n", orNone(s.PrimaryKey))
				fmt.Fprintf(w, "  cursor candidates: %s\n", orNone(s.CursorCandidates))
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "  COLUMN\tTYPE\tNULLABLE")
				if s.Schema != nil {
					for _, f := range s.Schema.Fields {
						fmt.Fprintf(tw, "  %s\t%s\t%v\n", f.Name, f.Type, f.Nullable)
					}
				}
				tw.Flush()
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the catalog as JSON")
	return cmd
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}
