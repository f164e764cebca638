package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

func newWorkerCmd() *cobra.Command {
	var (
		dataDir string
		workers int
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Execute queued runs from a PostgreSQL store, without serving the API",
		Long: `Execute queued runs. Needs ` + databaseURLEnv + `: workers on several
hosts share the runs through River on PostgreSQL. The embedded SQLite store
is for one process; use 'tributary serve --workers N' there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if os.Getenv(databaseURLEnv) == "" {
				return errors.New("tributary worker needs " + databaseURLEnv + " (a PostgreSQL store); with the embedded store, use tributary serve --workers N")
			}
			if workers < 1 {
				return errors.New("--workers must be at least 1")
			}
			st, err := openStore(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			q, err := startQueue(ctx, st, prometheus.NewRegistry(), dataDir, workers)
			if err != nil {
				return err
			}
			defer q.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "tributary worker executing runs (workers: %d)\n", workers)
			<-ctx.Done()
			stopQueue(q)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory for local state files")
	cmd.Flags().IntVar(&workers, "workers", 2, "runs executed at once")
	return cmd
}
