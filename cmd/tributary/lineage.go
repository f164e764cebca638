package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/lineage"
)

func newLineageCmd() *cobra.Command {
	var openLineage, asJSON bool
	cmd := &cobra.Command{
		Use:   "lineage FILE",
		Short: "Print which source columns each destination column comes from",
		Long: `Print column-level lineage: for every destination column, the source columns it
is computed from and the steps that changed it. The source is asked for its
catalog (discover) to learn the source columns; nothing is read or written.
--openlineage prints an OpenLineage run event instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0])
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			schemas, missing, err := engine.DiscoverSchemas(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if len(missing) > 0 {
				return fmt.Errorf("stream %s is not in the source's catalog", spec.Source.Streams[missing[0]].Name)
			}
			streams, err := lineage.Columns(spec, schemas)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			switch {
			case openLineage:
				return enc.Encode(lineage.OpenLineage(spec, streams, lineage.EventOptions{}))
			case asJSON:
				return enc.Encode(streams)
			}
			w := cmd.OutOrStdout()
			for _, s := range streams {
				fmt.Fprintf(w, "stream %s → %s\n", s.Stream, spec.Destination.Connector)
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "  COLUMN\tTYPE\tFROM\tSTEPS")
				for _, c := range s.Columns {
					from := strings.Join(c.Sources, ", ")
					if from == "" {
						from = "(computed)"
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Type, from, strings.Join(c.Steps, " → "))
				}
				tw.Flush()
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&openLineage, "openlineage", false, "print an OpenLineage run event (JSON)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the lineage as JSON")
	return cmd
}
