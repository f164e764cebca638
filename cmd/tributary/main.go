// Command tributary moves data: `tributary run pipeline.yaml` runs a
// pipeline headless; the other commands inspect connectors and pipelines.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/tributary-data/tributary/connectors/all"
)

// exitError carries an exit code without printing anything more; the
// command already said what went wrong.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var level string
	root := &cobra.Command{
		Use:           "tributary",
		Short:         "Pull data from many places into one you can trust",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: l})))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&level, "log-level", "warn", "log level: debug, info, warn, error")
	root.AddCommand(newRunCmd(), newValidateCmd(), newConnectorsCmd(), newCheckCmd(), newDiscoverCmd(), newPreviewCmd(), newLineageCmd(), newServeCmd(), newWorkerCmd(), newMigrateCmd(), newBackupCmd())
	root.AddCommand(newApplyCmd(), newExportCmd())
	root.AddCommand(newUsersCmd(), newTokensCmd(), newSecretsCmd())
	return root
}
