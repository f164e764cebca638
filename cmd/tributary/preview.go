package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
)

func newPreviewCmd() *cobra.Command {
	var (
		rows   int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "preview FILE",
		Short: "Run a pipeline on the first rows of each stream, writing nothing, and show every step",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := loadSpec(args[0])
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			p, err := engine.RunPreview(cmd.Context(), spec, rows)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			for _, s := range p.Streams {
				fmt.Fprintf(w, "== stream %s: %d rows read\n\n", s.Name, len(s.Input.Rows))
				for _, st := range s.Steps {
					fmt.Fprintf(w, "-- step %d: %s (%d in, %d out, %d rejected, %d filtered, %d deduplicated)\n",
						st.Index+1, st.Step, len(st.Before.Rows), len(st.After.Rows), len(st.Rejects), st.Filtered, st.Deduplicated)
					if st.Error != "" {
						fmt.Fprintf(w, "   error: %s\n", st.Error)
					}
					printTable(w, st.After)
					fmt.Fprintln(w)
				}
				fmt.Fprintln(w, "-- output")
				printTable(w, s.Output)
				if s.Output.Schema != nil {
					fmt.Fprint(w, "   schema:")
					for _, f := range s.Output.Schema.Fields {
						fmt.Fprintf(w, " %s %s;", f.Name, f.Type)
					}
					fmt.Fprintln(w)
				}
				if len(s.Rejects) > 0 {
					fmt.Fprintf(w, "\n-- rejected (%d)\n", len(s.Rejects))
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "STEP\tORIGIN\tREASON")
					for _, r := range s.Rejects {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Step, r.Origin, r.Reason)
					}
					tw.Flush()
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&rows, "rows", engine.DefaultPreviewRows, "rows to read from each stream")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the preview as JSON")
	return cmd
}

// printTable prints rows under their field names, cutting long values so a
// preview stays readable in a terminal.
func printTable(w io.Writer, t engine.Table) {
	if t.Schema == nil {
		fmt.Fprintln(w, "   (no rows)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   "+strings.Join(t.Schema.Names(), "\t"))
	for _, r := range t.Rows {
		cells := make([]string, len(r))
		for i, v := range r {
			s := connector.FormatValue(v)
			if v == nil {
				s = "NULL"
			}
			cells[i] = short(s)
		}
		fmt.Fprintln(tw, "   "+strings.Join(cells, "\t"))
	}
	tw.Flush()
}
