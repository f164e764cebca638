package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/connector"
)

func newConnectorsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "List the connectors this binary ships",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSOURCE\tDESTINATION\tDESCRIPTION")
			for _, c := range connector.List() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, yesNo(c.Source != nil), yesNo(c.Destination != nil), c.Description)
			}
			return tw.Flush()
		},
	}
	var kind string
	spec := &cobra.Command{
		Use:   "spec NAME",
		Short: "Print a connector's config JSON Schema",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, ok := connector.Lookup(args[0])
			if !ok {
				return fmt.Errorf("unknown connector %q (see `tributary connectors`)", args[0])
			}
			var out any
			switch kind {
			case "source", "destination":
				sp := info.Source
				if kind == "destination" {
					sp = info.Destination
				}
				if sp == nil {
					return fmt.Errorf("%s is not a %s connector", args[0], kind)
				}
				out = sp
			case "":
				out = map[string]any{"name": info.Name, "source": info.Source, "destination": info.Destination}
			default:
				return fmt.Errorf("--kind must be source or destination")
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	spec.Flags().StringVar(&kind, "kind", "", "print only the source or destination spec")
	cmd.AddCommand(spec)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
