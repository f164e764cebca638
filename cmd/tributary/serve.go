package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/scheduler"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/ui"
)

// databaseURLEnv switches the metadata store from the embedded SQLite file
// to PostgreSQL.
const databaseURLEnv = "TRIBUTARY_DATABASE_URL"

// sqlitePoll is how often workers on the embedded store look for jobs;
// SQLite cannot notify them as PostgreSQL does.
const sqlitePoll = 250 * time.Millisecond

func openStore(ctx context.Context, dataDir string) (store.Store, error) {
	sealer, _, err := storeSecrets(dataDir)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Options{DataDir: dataDir, DatabaseURL: os.Getenv(databaseURLEnv), Secrets: sealer})
}

func newServeCmd() *cobra.Command {
	var (
		addr    string
		dataDir string
		workers int
		demo    bool
		rescue  time.Duration

		publicURL string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the REST API and execute runs",
		Long: `Serve the REST API under /api/v1 (OpenAPI document at /api/openapi.json),
Prometheus metrics at /metrics, /healthz and /readyz, and execute queued
runs with --workers workers.

The metadata store is the SQLite file DATA/tributary.db, or PostgreSQL when
` + databaseURLEnv + ` is set (then 'tributary worker' processes on other hosts
can share the runs). Migrations run on start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			if publicURL == "" {
				publicURL = "http://" + addr
			}
			notifier, stopAlerts := startAlerts(ctx, st, reg, publicURL)
			defer stopAlerts()
			// The scheduler ticks in whichever process (serve or worker)
			// works the tick River's elected leader enqueues; without
			// workers there is no River client, and so no scheduler here.
			sched := &scheduler.Scheduler{Store: st, Logger: slog.Default(), Notifier: notifier}
			q, err := startQueue(ctx, st, reg, dataDir, workers, rescue, sched, notifier)
			if err != nil {
				return err
			}
			defer q.Close()
			if demo {
				msg, err := setupDemo(ctx, st, q, dataDir)
				if err != nil {
					stopQueue(q)
					return fmt.Errorf("demo: %w", err)
				}
				if msg != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), msg)
				}
			} else if msg, err := demoOffer(ctx, st); err != nil {
				stopQueue(q)
				return fmt.Errorf("demo: %w", err)
			} else if msg != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), msg)
			}

			ln, err := net.Listen("tcp", addr)
			if err != nil {
				stopQueue(q)
				return fmt.Errorf("listen: %w", err)
			}
			srv := &http.Server{
				Handler:           api.New(api.Config{Store: st, Queue: q, Gatherer: reg, Logger: slog.Default(), DataDir: dataDir, Version: buildVersion(), UI: ui.Handler()}),
				ReadHeaderTimeout: 10 * time.Second,
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "tributary serving http://%s (store: %s, workers: %d)\n", ln.Addr(), storeName(st), workers)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			go (&jobs.Purger{Store: st, Logger: slog.Default()}).Run(ctx)
			select {
			case err = <-served:
			case <-ctx.Done():
				shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = srv.Shutdown(shut)
				cancel()
			}
			stopQueue(q)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&dataDir, "data", "./tributary-data", "data directory: the SQLite store and local state files")
	cmd.Flags().BoolVar(&demo, "demo", false, "on an empty store, create the example CSV → SQLite pipeline and queue its first run")
	cmd.Flags().IntVar(&workers, "workers", 2, "runs executed at once by this process; 0 serves the API only")
	logFormatFlag(cmd)
	rescueAfterFlag(cmd, &rescue)
	publicURLFlag(cmd, &publicURL)
	return cmd
}

func startQueue(ctx context.Context, st store.Store, reg prometheus.Registerer, dataDir string, workers int, rescueAfter time.Duration, sched *scheduler.Scheduler, observers ...jobs.RunObserver) (*jobs.Queue, error) {
	if workers < 0 {
		return nil, errors.New("--workers must be 0 or more")
	}
	runner := &jobs.Runner{Store: st, DataDir: dataDir, Metrics: jobs.NewMetrics(reg), Logger: slog.Default(), Lease: rescueAfter}
	runner.Observers = append(runner.Observers, observers...)
	instrument(ctx, st, reg, runner, workers)
	opts := jobs.Options{Workers: workers, Logger: slog.Default()}
	if _, ok := st.(*store.SQLite); ok {
		opts.PollInterval = sqlitePoll
	}
	if sched != nil {
		opts.Tick = func(ctx context.Context) error { return sched.Tick(ctx, time.Now()) }
	}
	q, err := jobs.NewQueue(ctx, st, runner, opts)
	if err != nil {
		return nil, err
	}
	if sched != nil {
		sched.Queue = q
	}
	if err := q.Start(ctx); err != nil {
		q.Close()
		return nil, fmt.Errorf("start workers: %w", err)
	}
	return q, nil
}

// stopQueue stops the workers; their runs go back to the queue.
func stopQueue(q *jobs.Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Stop(ctx); err != nil {
		slog.Warn("stop workers", "error", err)
	}
}

func storeName(st store.Store) string {
	if s, ok := st.(*store.SQLite); ok {
		return s.Path()
	}
	return "postgres"
}
