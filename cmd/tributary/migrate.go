package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/jobs"
)

func newMigrateCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the metadata store's tables (serve and worker also do on start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := jobs.Migrate(cmd.Context(), st); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "store migrated: %s\n", storeName(st))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory holding the SQLite store")
	return cmd
}
