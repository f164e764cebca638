package singer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// DestinationConfig configures the singer destination: a target.
type DestinationConfig struct {
	ProcessConfig
	Confirm       string `json:"confirm,omitempty" jsonschema:"enum=echo,enum=exit,description=How a commit is confirmed: echo (default) waits for the target to print the state; exit ends the target's input and waits for it to exit successfully, then starts it again for what follows (for targets that print state only when they flush at the end)"`
	CommitTimeout string `json:"commit_timeout,omitempty" jsonschema:"description=How long a commit waits for the target to echo its STATE on stdout (Go duration); 10m when empty"`
}

// QuarantineStream is the stream rejected records are sent to the target
// as, beside the data.
const QuarantineStream = "_tributary_quarantine"

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("singer",
		"Any Singer target: pipes SCHEMA, RECORD and STATE messages into the executable; a commit is confirmed when the target echoes the state"), NewDestination)
}

// Destination runs one Singer target process for all streams of a run.
type Destination struct {
	cfg     DestinationConfig
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	proc    *target
	open    int  // writers not closed yet
	aborted bool // a writer rolled back: no target may start again
}

// NewDestination builds a singer destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &Destination{cfg: cfg, timeout: 10 * time.Minute,
		log: slog.Default().With("connector", "singer", "target", filepath.Base(cfg.Command))}
	if cfg.CommitTimeout != "" {
		t, err := time.ParseDuration(cfg.CommitTimeout)
		if err != nil || t <= 0 {
			return nil, fmt.Errorf("config.commit_timeout: %q is not a positive duration such as \"5m\"", cfg.CommitTimeout)
		}
		d.timeout = t
	}
	switch cfg.Confirm {
	case "":
		d.cfg.Confirm = "echo"
	case "echo", "exit":
	default:
		return nil, fmt.Errorf("config.confirm: %q is neither echo nor exit", cfg.Confirm)
	}
	return d, nil
}

// Check verifies the executable exists and can be run.
func (d *Destination) Check(_ context.Context) error {
	path := d.cfg.Command
	if d.cfg.Dir != "" && strings.ContainsRune(path, filepath.Separator) && !filepath.IsAbs(path) {
		path = filepath.Join(d.cfg.Dir, path)
	}
	if _, err := exec.LookPath(path); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	return nil
}

// Close stops a target no writer ended, discarding what it did not confirm.
func (d *Destination) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil {
		d.proc.kill()
		d.proc = nil
	}
	return nil
}

// target is a running target process.
type target struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  io.WriteCloser
	w      *bufio.Writer
	wd     *workdir
	stderr *stderrLog
	log    *slog.Logger

	sent    int64           // sequence number of the last STATE sent
	schemas map[string]bool // streams whose SCHEMA the target has
	buf     []byte

	mu        sync.Mutex
	confirmed int64
	exited    bool
	exitErr   error
	changed   chan struct{} // closed and replaced when confirmed or exited change
}

// stateMessage is the value of the STATE lines sent: a sequence number to
// recognise the echo, and the stream's state for the target to keep.
type stateMessage struct {
	Commit int64           `json:"tributary_commit"`
	Stream string          `json:"stream"`
	State  json.RawMessage `json:"state,omitempty"`
}

func (d *Destination) start(ctx context.Context) (*target, error) {
	if d.proc != nil {
		return d.proc, nil
	}
	wd, err := newWorkdir()
	if err != nil {
		return nil, err
	}
	cfgPath, err := d.cfg.configFile(wd)
	if err != nil {
		wd.remove()
		return nil, err
	}
	// The process outlives the call that starts it; writers' Close and
	// the destination's Close end it.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := d.cfg.command(pctx, "--config", cfgPath)
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	stderr := newStderrLog(d.log)
	cmd.Stderr = stderr
	if err := errors.Join(err1, err2); err != nil {
		cancel()
		wd.remove()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		wd.remove()
		return nil, fmt.Errorf("start target: %w", err)
	}
	t := &target{cmd: cmd, cancel: cancel, stdin: stdin, w: bufio.NewWriterSize(stdin, 256*1024), wd: wd,
		stderr: stderr, log: d.log, schemas: map[string]bool{}, changed: make(chan struct{})}
	go t.readStdout(stdout)
	d.proc = t
	return t, nil
}

// readStdout takes JSON lines as the states the target flushed and logs
// anything else.
func (t *target) readStdout(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var sm stateMessage
			if json.Unmarshal(line, &sm) == nil && sm.Commit > 0 {
				t.mu.Lock()
				if sm.Commit > t.confirmed {
					t.confirmed = sm.Commit
				}
				t.signal()
				t.mu.Unlock()
			} else {
				t.log.Info("stdout", "line", string(line))
			}
		}
		if err != nil {
			break
		}
	}
	err := t.cmd.Wait()
	t.wd.remove()
	t.mu.Lock()
	t.exited, t.exitErr = true, err
	t.signal()
	t.mu.Unlock()
}

func (t *target) signal() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// exitFailure describes how the target ended, for an error.
func (t *target) exitFailure(what string) error {
	t.mu.Lock()
	err := t.exitErr
	t.mu.Unlock()
	if err == nil {
		err = errors.New("exit status 0")
	}
	return exitError(what, err, t.stderr)
}

func (t *target) dead() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exited
}

// send writes one message line.
func (t *target) send(line []byte) error {
	if _, err := t.w.Write(line); err != nil {
		return t.writeFailed(err)
	}
	return nil
}

func (t *target) writeFailed(err error) error {
	// A write fails when the target is gone; its exit says why.
	t.wait(context.Background(), 5*time.Second)
	if t.dead() {
		return t.exitFailure("target exited")
	}
	return fmt.Errorf("write to target: %w", err)
}

// wait blocks until the target exits or the timeout passes.
func (t *target) wait(ctx context.Context, timeout time.Duration) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		t.mu.Lock()
		exited, ch := t.exited, t.changed
		t.mu.Unlock()
		if exited {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

func (t *target) kill() {
	t.cancel()
	t.stdin.Close()
	t.wait(context.Background(), 10*time.Second)
}

// Open starts loading a stream, starting the target if needed.
func (d *Destination) Open(ctx context.Context, load connector.Load) (connector.Writer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.aborted {
		return nil, fmt.Errorf("stream %s: the target was stopped", load.Stream)
	}
	if _, err := d.start(ctx); err != nil {
		return nil, err
	}
	d.open++
	return &writer{d: d, load: load}, nil
}

type writer struct {
	d      *Destination
	load   connector.Load
	schema *connector.Schema // sent to target sentTo
	sentTo *target
	keys   [][]byte
	closed bool
}

// proc returns the running target, starting a new one when the last one
// ended after confirming a commit (confirm: exit).
func (w *writer) proc(ctx context.Context) (*target, error) {
	if w.d.aborted {
		return nil, fmt.Errorf("stream %s: the target was stopped", w.load.Stream)
	}
	t, err := w.d.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", w.load.Stream, err)
	}
	if w.sentTo != t {
		w.schema, w.sentTo = nil, t
	}
	return t, nil
}

func (w *writer) sendSchema(t *target, stream string, s *connector.Schema, keys []string, bookmark []string) error {
	msg := map[string]any{"type": "SCHEMA", "stream": stream, "schema": toJSONSchema(s), "key_properties": nonNil(keys)}
	if len(bookmark) > 0 {
		msg["bookmark_properties"] = bookmark
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("stream %s: schema: %w", stream, err)
	}
	t.schemas[stream] = true
	return t.send(append(b, '\n'))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (w *writer) Write(ctx context.Context, b *connector.Batch) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	t, err := w.proc(ctx)
	if err != nil {
		return err
	}
	if w.schema == nil || !w.schema.Equal(b.Schema) {
		var bookmark []string
		if w.load.CursorField != "" {
			bookmark = []string{w.load.CursorField}
		}
		if err := w.sendSchema(t, w.load.Stream, b.Schema, w.load.PrimaryKey, bookmark); err != nil {
			return err
		}
		w.schema = b.Schema
		w.keys = make([][]byte, len(b.Schema.Fields))
		for i, f := range b.Schema.Fields {
			k, _ := json.Marshal(f.Name)
			w.keys[i] = append(k, ':')
		}
	}
	prefix, _ := json.Marshal(w.load.Stream)
	for _, row := range b.Rows {
		buf := append(t.buf[:0], `{"type":"RECORD","stream":`...)
		buf = append(buf, prefix...)
		buf = append(buf, `,"record":{`...)
		for i, v := range row {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, w.keys[i]...)
			if buf, err = appendValue(buf, b.Schema.Fields[i].Type, v); err != nil {
				return fmt.Errorf("stream %s: field %q: %w", w.load.Stream, b.Schema.Fields[i].Name, err)
			}
		}
		buf = append(buf, "}}\n"...)
		t.buf = buf
		if err := t.send(buf); err != nil {
			return fmt.Errorf("stream %s: %w", w.load.Stream, err)
		}
	}
	return nil
}

// appendValue writes v as JSON: decimals as exact numbers, timestamps as
// RFC 3339 in UTC, dates as YYYY-MM-DD, bytes as base64, floats JSON cannot
// hold (NaN, ±Inf) as strings.
func appendValue(buf []byte, t connector.Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.AppendQuote(buf, strconv.FormatFloat(x, 'g', -1, 64)), nil
		}
		return strconv.AppendFloat(buf, x, 'g', -1, 64), nil
	case connector.Decimal:
		return x.Append(buf), nil
	case string:
		b, err := json.Marshal(x)
		return append(buf, b...), err
	case time.Time:
		if t == connector.TypeDate {
			return x.UTC().AppendFormat(append(buf, '"'), "2006-01-02"), nil
		}
		buf = x.UTC().AppendFormat(append(buf, '"'), time.RFC3339Nano)
		return append(buf, '"'), nil
	case []byte:
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, x)
		return append(buf, '"'), nil
	}
	b, err := json.Marshal(v)
	return append(buf, b...), err
}

var quarantineSchema = connector.NewSchema(
	connector.Field{Name: "run_id", Type: connector.TypeString},
	connector.Field{Name: "stream", Type: connector.TypeString},
	connector.Field{Name: "origin", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "raw", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "reason", Type: connector.TypeString},
	connector.Field{Name: "step", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "at", Type: connector.TypeTimestamp},
)

// Quarantine sends rejected records to the target as the stream
// _tributary_quarantine, so they land beside the data.
func (w *writer) Quarantine(ctx context.Context, rejects []connector.Reject) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	t, err := w.proc(ctx)
	if err != nil {
		return err
	}
	if !t.schemas[QuarantineStream] {
		if err := w.sendSchema(t, QuarantineStream, quarantineSchema, nil, nil); err != nil {
			return err
		}
	}
	for _, r := range rejects {
		b, err := json.Marshal(map[string]any{"type": "RECORD", "stream": QuarantineStream, "record": map[string]any{
			"run_id": r.RunID, "stream": r.Stream, "origin": r.Origin, "raw": r.Raw, "reason": r.Reason, "step": r.Step,
			"at": r.At.UTC().Format(time.RFC3339Nano),
		}})
		if err != nil {
			return err
		}
		if err := t.send(append(b, '\n')); err != nil {
			return fmt.Errorf("stream %s: quarantine: %w", w.load.Stream, err)
		}
	}
	return nil
}

// Commit sends the state and waits for the target to echo it: Singer
// targets print the last state they flushed, so the echo confirms every
// record sent before it.
func (w *writer) Commit(ctx context.Context, state json.RawMessage) error {
	w.d.mu.Lock()
	t, err := w.proc(ctx)
	if err != nil {
		w.d.mu.Unlock()
		return err
	}
	t.sent++
	seq := t.sent
	b, err := json.Marshal(map[string]any{"type": "STATE", "value": stateMessage{Commit: seq, Stream: w.load.Stream, State: state}})
	if err == nil {
		err = t.send(append(b, '\n'))
	}
	if err == nil {
		if ferr := t.w.Flush(); ferr != nil {
			err = t.writeFailed(ferr)
		}
	}
	if err == nil && w.d.cfg.Confirm == "exit" {
		// The target flushes everything when its input ends; a clean
		// exit confirms the state.
		w.d.proc = nil
		err = t.end(ctx, w.d.timeout)
	}
	w.d.mu.Unlock()
	if err != nil || w.d.cfg.Confirm == "exit" {
		return err
	}
	timer := time.NewTimer(w.d.timeout)
	defer timer.Stop()
	for {
		t.mu.Lock()
		confirmed, exited, ch := t.confirmed, t.exited, t.changed
		t.mu.Unlock()
		switch {
		case confirmed >= seq:
			return nil
		case exited:
			return t.exitFailure("target exited before confirming the state")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("target did not echo the state within %s (commit_timeout)", w.d.timeout)
		}
	}
}

// Close ends the stream. The last writer to close with ok ends the
// target's input and waits for it to exit; one closing without ok stops
// the target, since nothing it did not confirm may count.
func (w *writer) Close(ctx context.Context, ok bool) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.d.open--
	t := w.d.proc
	if !ok {
		w.d.aborted = true
		if t != nil {
			t.kill()
			w.d.proc = nil
		}
		return nil
	}
	if t == nil {
		return nil
	}
	if w.d.open > 0 {
		return nil
	}
	w.d.proc = nil
	return t.end(ctx, w.d.timeout)
}

// end closes the target's input and waits for it to exit successfully.
func (t *target) end(ctx context.Context, timeout time.Duration) error {
	if err := t.w.Flush(); err != nil {
		t.kill()
		return t.exitFailure("target exited")
	}
	t.stdin.Close()
	t.wait(ctx, timeout)
	if !t.dead() {
		t.kill()
		return fmt.Errorf("target did not exit within %s after its input ended", timeout)
	}
	if t.exitErr != nil {
		return t.exitFailure("target failed")
	}
	return nil
}
