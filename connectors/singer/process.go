package singer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ProcessConfig is what tap and target configs share: the executable, its
// arguments and environment, and the Singer config file it is given.
type ProcessConfig struct {
	Command string   `json:"command" jsonschema:"required,description=Path of the executable (looked up in PATH when it has no slash)"`
	Args    []string `json:"args,omitempty" jsonschema:"description=Arguments given before the Singer ones (--config and the rest)"`
	// Config is written to a temporary file passed with --config.
	Config map[string]any `json:"config,omitempty" jsonschema:"description=The executable's Singer config; written to a private temporary file passed with --config"`
	// SecretConfig is merged over Config; it holds credentials.
	SecretConfig map[string]any    `json:"secret_config,omitempty" secret:"true" jsonschema:"description=Config keys holding credentials; merged over config and never shown back"`
	Env          map[string]string `json:"env,omitempty" jsonschema:"description=Environment variables added to the process's environment"`
	Dir          string            `json:"dir,omitempty" jsonschema:"description=Working directory of the process; the current one when empty"`
}

func (c *ProcessConfig) validate() error {
	if strings.TrimSpace(c.Command) == "" {
		return fmt.Errorf("config.command: is required")
	}
	return nil
}

// workdir is a private folder holding the files given to one process.
type workdir struct{ path string }

func newWorkdir() (*workdir, error) {
	p, err := os.MkdirTemp("", "tributary-singer-*")
	if err != nil {
		return nil, fmt.Errorf("temporary folder: %w", err)
	}
	return &workdir{path: p}, nil
}

// writeJSON writes v into a file only the owner can read, since configs
// hold credentials.
func (w *workdir) writeJSON(name string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", name, err)
	}
	p := filepath.Join(w.path, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return p, nil
}

func (w *workdir) remove() { os.RemoveAll(w.path) }

func (c *ProcessConfig) configFile(w *workdir) (string, error) {
	merged := map[string]any{}
	maps.Copy(merged, c.Config)
	maps.Copy(merged, c.SecretConfig)
	return w.writeJSON("config.json", merged)
}

func (c *ProcessConfig) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Command, append(append([]string(nil), c.Args...), args...)...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = os.Environ()
		for k, v := range c.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	// A cancelled run stops the process at once; stdout and stderr readers
	// then see EOF even when the process left children holding the pipes.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// stderrLog is a process's stderr: it logs every line and keeps the last
// ones for the error of a failed process. As the command's Stderr (not a
// pipe), exec copies into it and Wait returns once everything was copied.
type stderrLog struct {
	log     *slog.Logger
	mu      sync.Mutex
	partial []byte
	tail    []string
}

const tailLines = 20

func newStderrLog(log *slog.Logger) *stderrLog { return &stderrLog{log: log} }

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(bytes.TrimRight(s.partial[:i], "\r")))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 64*1024 {
		// A line this long is logged in pieces rather than held forever.
		s.line(string(s.partial))
		s.partial = s.partial[:0]
	}
	return len(p), nil
}

func (s *stderrLog) line(l string) {
	s.log.Info("stderr", "line", l)
	s.tail = append(s.tail, l)
	if len(s.tail) > tailLines {
		s.tail = s.tail[len(s.tail)-tailLines:]
	}
}

// Tail returns the last stderr lines; call it after the command's Wait.
func (s *stderrLog) Tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.line(string(s.partial))
		s.partial = nil
	}
	return strings.Join(s.tail, "\n")
}

// exitError describes a process that failed, with its stderr tail.
func exitError(what string, err error, stderr *stderrLog) error {
	tail := stderr.Tail()
	if tail == "" {
		return fmt.Errorf("%s: %w (no stderr output)", what, err)
	}
	return fmt.Errorf("%s: %w; stderr:\n%s", what, err, tail)
}
