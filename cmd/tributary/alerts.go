package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/store"
)

// publicURLEnv is the default of --public-url.
const publicURLEnv = "TRIBUTARY_PUBLIC_URL"

func publicURLFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "public-url", os.Getenv(publicURLEnv),
		"address users reach the server at, for links in alerts (default $"+publicURLEnv+"; serve: http://ADDR)")
}

// startAlerts starts this process's delivery loop and returns the
// notifier that finished runs and late pipelines are told to; stop ends
// the loop, putting deliveries in flight back for the next process.
func startAlerts(ctx context.Context, st store.Store, reg prometheus.Registerer, publicURL string) (n *alert.Notifier, stop func()) {
	d := &alert.Dispatcher{Store: st, Sender: &alert.Sender{}, Logger: slog.Default(), Metrics: alert.NewMetrics(reg)}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	n = &alert.Notifier{Store: st, BaseURL: publicURL, Logger: slog.Default(), Dispatcher: d}
	return n, func() { cancel(); <-done }
}
