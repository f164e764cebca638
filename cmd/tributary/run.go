package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"
)

func newRunCmd() *cobra.Command {
	var (
		statePath   string
		fullRefresh bool
		asJSON      bool
		profile     bool
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a pipeline file once, headless, and print a summary per stream",
		Long: `Run a pipeline file once, with no server.

State (how far each stream got) is kept in the destination when it can hold
it in the same transaction as the data (SQL destinations, file destinations'
manifests); otherwise in a local state file beside the pipeline file
(NAME.state.json), or the file given with --state.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tuneGC()
			spec, err := loadSpec(args[0])
			if err != nil {
				printSpecErrors(cmd, args[0], err)
				return exitError{1}
			}
			if statePath == "" {
				statePath = defaultStatePath(args[0], spec)
			}
			run, err := engine.New(spec, engine.Options{StatePath: statePath, FullRefresh: fullRefresh, Logger: slog.Default()})
			if err != nil {
				return err
			}
			stop := showProgress(cmd.Context(), cmd.ErrOrStderr(), run)
			res, runErr := run.Execute(cmd.Context())
			stop()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printSummary(cmd.OutOrStdout(), res)
				printChecks(cmd.OutOrStdout(), res)
				if profile {
					printProfiles(cmd.OutOrStdout(), res)
				}
			}
			if runErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "run %s %s: %v\n", res.RunID, res.Status, runErr)
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&statePath, "state", "", "local state file (default: NAME.state.json beside the pipeline file)")
	cmd.Flags().BoolVar(&fullRefresh, "full-refresh", false, "ignore saved state and read every stream from the beginning")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run result as JSON (profiles and check results included)")
	cmd.Flags().BoolVar(&profile, "profile", false, "print a profile of every column written")
	return cmd
}

func defaultStatePath(file string, spec *pipeline.Spec) string {
	dir := filepath.Dir(file)
	if spec.Options.StateFile != "" {
		if filepath.IsAbs(spec.Options.StateFile) {
			return spec.Options.StateFile
		}
		return filepath.Join(dir, spec.Options.StateFile)
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return filepath.Join(dir, base+".state.json")
}

// showProgress reports rows and rates while the run goes: redrawn in place
// on a terminal, as a log line every few seconds otherwise.
func showProgress(ctx context.Context, w io.Writer, run *engine.Run) (stop func()) {
	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		drawn := 0
		for {
			select {
			case <-ctx.Done():
				if tty && drawn > 0 {
					fmt.Fprintf(w, "\033[%dA\033[J", drawn)
				}
				return
			case <-t.C:
			}
			stats := run.Progress()
			if tty && drawn > 0 {
				fmt.Fprintf(w, "\033[%dA", drawn)
			}
			drawn = 0
			for _, s := range stats {
				if s.Read == 0 && s.Duration == 0 {
					continue
				}
				line := fmt.Sprintf("%-24s %12d rows  %10.0f rows/s  %d quarantined", s.Name, s.Read, s.RowsPerSecond, s.Quarantined)
				if tty {
					fmt.Fprintf(w, "\033[K%s\n", line)
					drawn++
				} else {
					slog.Info("progress", "stream", s.Name, "read", s.Read, "written", s.Written, "quarantined", s.Quarantined, "rows_per_second", int64(s.RowsPerSecond))
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func printSummary(w io.Writer, res *engine.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stream\tread\twritten\tquarantined\tfiltered\tduration\trows/s\t")
	for _, s := range res.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%.0f\t\n", s.Name, s.Read, s.Written, s.Quarantined, s.Filtered+s.Deduplicated, s.Duration.Round(time.Millisecond), s.RowsPerSecond)
	}
	tw.Flush()
	fmt.Fprintf(w, "run %s %s in %s\n", res.RunID, res.Status, res.Duration.Round(time.Millisecond))
}

func printChecks(w io.Writer, res *engine.Result) {
	for _, s := range res.Streams {
		for _, c := range s.Checks {
			verdict := "passed"
			if !c.Passed {
				verdict = "FAILED (" + string(c.Severity) + ")"
			}
			fmt.Fprintf(w, "check %s: %s: %s", s.Name, c.Check, verdict)
			if c.Message != "" && !c.Passed {
				fmt.Fprintf(w, ": %s", c.Message)
			}
			fmt.Fprintln(w)
		}
	}
}

func printProfiles(w io.Writer, res *engine.Result) {
	for _, s := range res.Streams {
		fmt.Fprintf(w, "\nprofile of %s\n", s.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COLUMN\tTYPE\tNULLS\tDISTINCT\tMIN\tMAX\tMEAN\tLENGTH\tTOP")
		for _, c := range s.Profile {
			mean, length := "", ""
			if c.Mean != nil {
				mean = fmt.Sprintf("%.4g", *c.Mean)
			}
			if c.MinLength != nil && c.MaxLength != nil {
				length = fmt.Sprintf("%d..%d", *c.MinLength, *c.MaxLength)
			}
			var top []string
			for _, v := range c.Top {
				top = append(top, fmt.Sprintf("%s (%d)", short(connector.FormatValue(v.Value)), v.Count))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f%%\t~%d\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Type, c.NullRatio*100, c.Distinct,
				short(connector.FormatValue(c.Min)), short(connector.FormatValue(c.Max)), mean, length, strings.Join(top, ", "))
		}
		tw.Flush()
	}
}

func short(s string) string {
	if r := []rune(s); len(r) > 24 {
		return string(r[:23]) + "…"
	}
	return s
}
