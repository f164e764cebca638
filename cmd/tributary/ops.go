package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/store"
)

// buildVersion is the module version of the binary, or the VCS revision
// of a development build.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}

// newRegistry is a metrics registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// instrument gives a runner what monitoring needs: figures of finished
// runs for the dashboard, failure counts, the runs-in-flight gauge and
// the queue's depth read at scrape. A process that executes runs also
// records a heartbeat until ctx ends.
func instrument(ctx context.Context, st store.Store, reg prometheus.Registerer, runner *jobs.Runner, workers int) {
	runner.Observers = append(runner.Observers, &jobs.FiguresObserver{Store: st, Metrics: runner.Metrics, Logger: runner.Logger})
	jobs.RegisterInFlight(reg, runner)
	reg.MustRegister(&jobs.QueueCollector{Store: st})
	if workers > 0 {
		go (&jobs.Heartbeat{Store: st, Workers: workers, InFlight: runner.InFlight, Version: buildVersion(), Logger: runner.Logger}).Run(ctx)
	}
}

// serveMetrics serves /metrics and /healthz of a worker process on addr
// until ctx ends.
func serveMetrics(ctx context.Context, addr string, reg prometheus.Gatherer) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	return ln.Addr().String(), nil
}

// logFormatFlag adds --log-format to a long-running command: text for
// people, json (one object a line, with run_id and pipeline fields on run
// lines) for log collectors.
func logFormatFlag(cmd *cobra.Command) {
	var format string
	cmd.Flags().StringVar(&format, "log-format", "text", "log format: text or json")
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if err := setLogFormat(c, format); err != nil {
			return err
		}
		return run(c, args)
	}
}

func setLogFormat(cmd *cobra.Command, format string) error {
	// A server logs its runs unless told otherwise; the root default
	// (warn) keeps headless commands quiet.
	level := slog.LevelInfo
	if f := cmd.Flags().Lookup("log-level"); f != nil && f.Changed {
		if err := level.UnmarshalText([]byte(f.Value.String())); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), opts)))
	default:
		return fmt.Errorf("--log-format %q: want text or json", format)
	}
	return nil
}
