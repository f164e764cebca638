package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/scheduler"
)

// rescueAfterEnv sets --rescue-after where flags are awkward (containers).
const rescueAfterEnv = "TRIBUTARY_RESCUE_AFTER"

// rescueAfterFlag adds --rescue-after, defaulting to rescueAfterEnv or
// jobs.DefaultLease.
func rescueAfterFlag(cmd *cobra.Command, d *time.Duration) {
	def := jobs.DefaultLease
	if v := os.Getenv(rescueAfterEnv); v != "" {
		if p, err := time.ParseDuration(v); err == nil && p > 0 {
			def = p
		}
	}
	cmd.Flags().DurationVar(d, "rescue-after", def,
		"a running run whose worker shows no sign of life for this long is taken over by another worker and resumes from its last checkpoint (env "+rescueAfterEnv+"); workers renew every third of it")
	cmd.PreRunE = chainPreRun(cmd.PreRunE, func(*cobra.Command, []string) error {
		if v := os.Getenv(rescueAfterEnv); v != "" && !cmd.Flags().Changed("rescue-after") {
			if p, err := time.ParseDuration(v); err != nil || p <= 0 {
				return fmt.Errorf("%s=%q: want a positive duration such as 30s", rescueAfterEnv, v)
			}
		}
		if *d < time.Second {
			return fmt.Errorf("--rescue-after %s: want at least 1s", *d)
		}
		return nil
	})
}

func chainPreRun(before, after func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	if before == nil {
		return after
	}
	return func(cmd *cobra.Command, args []string) error {
		if err := before(cmd, args); err != nil {
			return err
		}
		return after(cmd, args)
	}
}

func newWorkerCmd() *cobra.Command {
	var (
		dataDir string
		workers int
		rescue  time.Duration
		// metricsAddr serves the worker's counters, which live in this
		// process.
		metricsAddr string
		publicURL   string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Execute queued runs from a PostgreSQL store, without serving the API",
		Long: `Execute queued runs. Needs ` + databaseURLEnv + `: workers on several
hosts share the runs through River on PostgreSQL. The embedded SQLite store
is for one process; use 'tributary serve --workers N' there.

Every worker renews the lease of the runs it executes; when a worker dies,
another takes its runs over once --rescue-after passed without renewal, and
they resume from their last checkpoint. SIGINT/SIGTERM stop the worker: its
runs are queued again at once.`,
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
			reg := newRegistry()
			notifier, stopAlerts := startAlerts(ctx, st, reg, publicURL)
			defer stopAlerts()
			// Any process with workers may be River's leader, so each
			// can run the scheduler's tick; one does at a time.
			sched := &scheduler.Scheduler{Store: st, Logger: slog.Default(), Notifier: notifier}
			q, err := startQueue(ctx, st, reg, dataDir, workers, rescue, sched, notifier)
			if err != nil {
				return err
			}
			defer q.Close()
			if metricsAddr != "" {
				addr, err := serveMetrics(ctx, metricsAddr, reg)
				if err != nil {
					stopQueue(q)
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "tributary worker metrics on http://%s/metrics\n", addr)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "tributary worker executing runs (workers: %d)\n", workers)
			<-ctx.Done()
			stopQueue(q)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory for local state files")
	cmd.Flags().IntVar(&workers, "workers", 2, "runs executed at once")
	publicURLFlag(cmd, &publicURL)
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this address (host:port); off when empty")
	logFormatFlag(cmd)
	rescueAfterFlag(cmd, &rescue)
	return cmd
}
