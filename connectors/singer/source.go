package singer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// SourceConfig configures the singer source: a tap.
type SourceConfig struct {
	ProcessConfig
	Catalog     string `json:"catalog,omitempty" jsonschema:"description=Path of a catalog file to use instead of running the tap with --discover (for taps that cannot discover)"`
	CatalogFlag string `json:"catalog_flag,omitempty" jsonschema:"enum=catalog,enum=properties,description=How the selected catalog is given to the tap: --catalog (default) or --properties for older taps"`
}

func init() {
	connector.RegisterSource(connector.NewSpec[SourceConfig, struct{}]("singer",
		"Any Singer tap: runs the executable, discovers its catalog, reads SCHEMA, RECORD and STATE messages"), NewSource)
}

// Source runs a Singer tap.
type Source struct {
	cfg SourceConfig
	log *slog.Logger
}

// NewSource builds a singer source from its JSON config.
func NewSource(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg SourceConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch cfg.CatalogFlag {
	case "":
		cfg.CatalogFlag = "catalog"
	case "catalog", "properties":
	default:
		return nil, fmt.Errorf("config.catalog_flag: %q is neither catalog nor properties", cfg.CatalogFlag)
	}
	return &Source{cfg: cfg, log: slog.Default().With("connector", "singer", "tap", filepath.Base(cfg.Command))}, nil
}

// Check runs the tap's discovery, the one thing every tap can do with a
// config and nothing else.
func (s *Source) Check(ctx context.Context) error {
	_, err := s.discover(ctx)
	return err
}

// Close has nothing to release: each call runs its own process.
func (s *Source) Close() error { return nil }

func (s *Source) discover(ctx context.Context) (*catalog, error) {
	if s.cfg.Catalog != "" {
		b, err := os.ReadFile(s.cfg.Catalog)
		if err != nil {
			return nil, fmt.Errorf("config.catalog: %w", err)
		}
		c, err := parseCatalog(b)
		if err != nil {
			return nil, fmt.Errorf("config.catalog %s: %w", s.cfg.Catalog, err)
		}
		return c, nil
	}
	wd, err := newWorkdir()
	if err != nil {
		return nil, err
	}
	defer wd.remove()
	cfgPath, err := s.cfg.configFile(wd)
	if err != nil {
		return nil, err
	}
	cmd := s.cfg.command(ctx, "--config", cfgPath, "--discover")
	var out bytes.Buffer
	stderr := newStderrLog(s.log.With("phase", "discover"))
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tap: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return nil, exitError("tap discovery (--discover) failed", err, stderr)
	}
	c, err := parseCatalog(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("tap discovery: %w", err)
	}
	return c, nil
}

// Discover runs the tap with --discover and maps its catalog.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	c, err := s.discover(ctx)
	if err != nil {
		return nil, err
	}
	out := &connector.Catalog{}
	for _, cs := range c.Streams {
		info, err := cs.info()
		if err != nil {
			return nil, err
		}
		out.Streams = append(out.Streams, info)
	}
	return out, nil
}

// checkpoint is what the source saves per stream. Singer has one state for
// the whole tap; each selected stream keeps a copy, numbered so that a
// resumed run can pick the oldest one every stream has committed.
type checkpoint struct {
	Seq int64 `json:"seq"`
	// Streams lists the streams that had records before this state in its
	// run: if one of them has no committed state, this state may be ahead
	// of rows that stream never committed.
	Streams []string        `json:"streams,omitempty"`
	Singer  json.RawMessage `json:"singer"`
}

// resumeState picks the Singer state to give the tap. Streams commit one
// by one, so their copies may differ after a crash; the one with the lowest
// sequence number is covered by every stream. Bookmarks of streams without
// a committed state (new, failed before their first commit, or read in
// full again) are removed, so the tap reads them from the start.
func resumeState(req connector.ReadRequest) (state json.RawMessage, next int64, err error) {
	var oldest *checkpoint
	for _, st := range req.Streams {
		raw := req.State[st.Name]
		if len(raw) == 0 {
			continue
		}
		var cp checkpoint
		if err := json.Unmarshal(raw, &cp); err != nil {
			return nil, 0, fmt.Errorf("stream %s: saved state is not a singer checkpoint: %w", st.Name, err)
		}
		next = max(next, cp.Seq+1)
		if oldest == nil || cp.Seq < oldest.Seq {
			oldest = &cp
		}
	}
	if oldest == nil || len(oldest.Singer) == 0 || string(oldest.Singer) == "null" {
		return nil, next, nil
	}
	missing := []string{}
	for _, st := range req.Streams {
		if len(req.State[st.Name]) == 0 {
			missing = append(missing, st.Name)
		}
	}
	if len(missing) == 0 {
		return oldest.Singer, next, nil
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(oldest.Singer, &doc) == nil {
		var bookmarks map[string]json.RawMessage
		if json.Unmarshal(doc["bookmarks"], &bookmarks) == nil && bookmarks != nil {
			for _, m := range missing {
				delete(bookmarks, m)
			}
			doc["bookmarks"], _ = json.Marshal(bookmarks)
			if cs, _ := doc["currently_syncing"]; len(cs) > 0 {
				var name string
				if json.Unmarshal(cs, &name) == nil && slices.Contains(missing, name) {
					delete(doc, "currently_syncing")
				}
			}
			b, err := json.Marshal(doc)
			return b, next, err
		}
	}
	// A state without per-stream bookmarks cannot be trimmed: it is safe
	// only if no stream it covers lacks a commit.
	for _, name := range oldest.Streams {
		if slices.Contains(missing, name) {
			return nil, next, nil
		}
	}
	return oldest.Singer, next, nil
}

// message is one Singer message.
type message struct {
	Type               string          `json:"type"`
	Stream             string          `json:"stream"`
	Record             json.RawMessage `json:"record"`
	Schema             json.RawMessage `json:"schema"`
	KeyProperties      []string        `json:"key_properties"`
	BookmarkProperties []string        `json:"bookmark_properties"`
	Value              json.RawMessage `json:"value"`
}

// readStream is one selected stream during a read.
type readStream struct {
	conf   connector.Stream
	schema *streamSchema
	batch  *connector.Batch
	rows   int
	seen   bool // had a record this run
	// covered is how many rows at the head of batch the pending STATE
	// covers.
	covered int
}

type reader struct {
	src        *Source
	req        connector.ReadRequest
	emit       connector.Emitter
	cat        *catalog
	streams    map[string]*readStream
	order      []*readStream
	file       string
	seq        int64
	skipped    map[string]bool
	sinceState int // records read since the last STATE

	// pending is the newest STATE not yet handed over as a checkpoint:
	// taps may send one after every record, and a checkpoint per record
	// would make batches of one row.
	pending    []byte
	lastPassed time.Time
}

// stateEvery is the longest a STATE is held back while its batch fills.
const stateEvery = time.Second

var (
	recordType   = regexp.MustCompile(`"type"\s*:\s*"RECORD"`)
	recordStream = regexp.MustCompile(`"stream"\s*:\s*"((?:[^"\\]|\\.)*)"`)
)

// Read runs the tap with the selected catalog and the saved state and maps
// its messages to batches, rejects and checkpoints.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	cat, err := s.discover(ctx)
	if err != nil {
		return err
	}
	for _, st := range req.Streams {
		if cat.find(st.Name) == nil {
			return fmt.Errorf("stream %s: the tap's catalog has no such stream (it has %s)", st.Name, strings.Join(cat.names(), ", "))
		}
	}
	state, next, err := resumeState(req)
	if err != nil {
		return err
	}
	wd, err := newWorkdir()
	if err != nil {
		return err
	}
	defer wd.remove()
	cfgPath, err := s.cfg.configFile(wd)
	if err != nil {
		return err
	}
	selected, err := cat.selected(req.Streams)
	if err != nil {
		return err
	}
	catPath, err := wd.writeJSON("catalog.json", json.RawMessage(selected))
	if err != nil {
		return err
	}
	args := []string{"--config", cfgPath, "--" + s.cfg.CatalogFlag, catPath}
	if state != nil {
		statePath, err := wd.writeJSON("state.json", state)
		if err != nil {
			return err
		}
		args = append(args, "--state", statePath)
	}
	if req.BatchSize <= 0 {
		req.BatchSize = 10_000
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := s.cfg.command(rctx, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := newStderrLog(s.log)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start tap: %w", err)
	}
	r := &reader{src: s, req: req, emit: emit, cat: cat, streams: map[string]*readStream{},
		file: filepath.Base(s.cfg.Command), seq: next, skipped: map[string]bool{}}
	for _, st := range req.Streams {
		rs := &readStream{conf: st}
		r.streams[st.Name] = rs
		r.order = append(r.order, rs)
	}
	readErr := r.loop(rctx, stdout)
	if readErr != nil || r.limitReached() {
		// The tap is stopped: either the run failed or a preview has
		// what it asked for.
		cancel()
	}
	io.Copy(io.Discard, stdout)
	waitErr := cmd.Wait()
	switch {
	case readErr != nil:
		return readErr
	case r.limitReached():
		return r.flushAll(ctx)
	case ctx.Err() != nil:
		return ctx.Err()
	case waitErr != nil:
		err := exitError("tap failed", waitErr, stderr)
		// What the last STATE covers is handed over with its checkpoint;
		// the rows after it are not.
		if perr := r.passState(ctx); perr != nil {
			return errors.Join(err, perr)
		}
		if r.sinceState > 0 {
			return fmt.Errorf("%w (%d records after its last STATE were not loaded; the next run reads them again)", err, r.sinceState)
		}
		return err
	}
	// The tap ended well: what came after its last STATE is loaded too.
	// The saved state stays that STATE, so a next run may read those
	// records again; taps end with a STATE, which makes this rare.
	return r.flushAll(ctx)
}

func (r *reader) limitReached() bool {
	if r.req.Limit <= 0 {
		return false
	}
	for _, rs := range r.order {
		if rs.rows < r.req.Limit {
			return false
		}
	}
	return true
}

func (r *reader) loop(ctx context.Context, out io.Reader) error {
	br := bufio.NewReaderSize(out, 256*1024)
	var line int64
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			line++
			if herr := r.handle(ctx, line, bytes.TrimSpace(b)); herr != nil {
				return herr
			}
			if r.limitReached() {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tap output: %w", err)
		}
	}
}

func (r *reader) handle(ctx context.Context, line int64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return r.malformed(ctx, line, b, err)
	}
	switch m.Type {
	case "SCHEMA":
		rs := r.streams[m.Stream]
		if rs == nil {
			return nil
		}
		ss, err := parseSchema(m.Schema, rs.conf.Schema)
		if err != nil {
			return fmt.Errorf("line %d: SCHEMA of stream %s: %w", line, m.Stream, err)
		}
		if len(rs.conf.PrimaryKey) > 0 && len(m.KeyProperties) > 0 && !slices.Equal(rs.conf.PrimaryKey, m.KeyProperties) {
			r.src.log.Warn("the pipeline's primary key differs from the tap's key_properties",
				"stream", m.Stream, "primary_key", rs.conf.PrimaryKey, "key_properties", m.KeyProperties)
		}
		if rs.schema != nil && rs.schema.schema.Equal(ss.schema) {
			// Taps repeat their SCHEMA (some before every page): the
			// batch goes on.
			return nil
		}
		if err := r.flush(ctx, rs); err != nil {
			return err
		}
		rs.schema = ss
	case "RECORD":
		return r.record(ctx, line, b, &m)
	case "STATE":
		return r.state(ctx, m.Value)
	case "ACTIVATE_VERSION":
		// Versions matter to targets that swap tables; our sync mode
		// decides that, so the message is only noted.
		r.src.log.Debug("ACTIVATE_VERSION ignored", "stream", m.Stream, "line", line)
	default:
		r.src.log.Warn("unknown Singer message type ignored", "type", m.Type, "line", line)
	}
	return nil
}

// malformed handles a line that is not JSON: a broken record of a selected
// stream is quarantined; anything else fails the run, since the tap's
// output can no longer be trusted to say what it lost.
func (r *reader) malformed(ctx context.Context, line int64, b []byte, perr error) error {
	if recordType.Match(b) {
		if m := recordStream.FindSubmatch(b); m != nil {
			var name string
			if json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &name) == nil {
				if rs := r.streams[name]; rs != nil {
					return r.reject(ctx, rs, line, b, fmt.Sprintf("line %d: RECORD is not valid JSON: %v", line, perr))
				}
				return nil // a stream the pipeline does not read
			}
		}
	}
	return fmt.Errorf("line %d of the tap's output is not a Singer message (%v): %s", line, perr, shortText(b))
}

func shortText(b []byte) string {
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}

func (r *reader) reject(ctx context.Context, rs *readStream, line int64, raw []byte, reason string) error {
	// A reject is handed over at once; the pending STATE goes first so
	// it does not cover a record read after it.
	if err := r.passState(ctx); err != nil {
		return err
	}
	r.sinceState++
	return r.emit.Reject(ctx, connector.Reject{
		Stream: rs.conf.Name,
		Origin: connector.Origin(r.file, line),
		Raw:    string(raw),
		Reason: reason,
	})
}

func (r *reader) record(ctx context.Context, line int64, raw []byte, m *message) error {
	rs := r.streams[m.Stream]
	if rs == nil {
		if !r.skipped[m.Stream] {
			r.skipped[m.Stream] = true
			r.src.log.Info("records of a stream the pipeline does not read are skipped", "stream", m.Stream)
		}
		return nil
	}
	if r.req.Limit > 0 && rs.rows >= r.req.Limit {
		return nil
	}
	if rs.schema == nil {
		cs := r.cat.find(m.Stream)
		if cs != nil && len(cs.Schema) > 0 {
			ss, err := parseSchema(cs.Schema, rs.conf.Schema)
			if err != nil {
				return fmt.Errorf("stream %s: catalog schema: %w", m.Stream, err)
			}
			rs.schema = ss
		} else {
			return r.reject(ctx, rs, line, raw, fmt.Sprintf("line %d: RECORD before any SCHEMA of stream %s", line, m.Stream))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(m.Record))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil || rec == nil {
		return r.reject(ctx, rs, line, raw, fmt.Sprintf("line %d: RECORD has no record object", line))
	}
	// Properties the schema does not declare are kept, as json columns.
	var extra []string
	for k := range rec {
		if _, ok := rs.schema.index[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		if err := r.flush(ctx, rs); err != nil {
			return err
		}
		for _, k := range extra {
			f := field{kinds: kAny}
			f.Name, f.Type, f.Nullable = k, connector.TypeJSON, true
			if t, ok := rs.conf.Schema[k]; ok {
				f.Type = t
			}
			rs.schema.add(f)
		}
	}
	if rs.batch == nil {
		rs.batch = connector.NewBatch(rs.conf.Name, rs.schema.schema, r.req.BatchSize)
		rs.batch.File = r.file
	}
	row := rs.batch.NewRow()
	var problems []string
	for i := range rs.schema.fields {
		f := &rs.schema.fields[i]
		v, err := f.value(rec[f.Name])
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		row[i] = v
	}
	if len(problems) > 0 {
		return r.reject(ctx, rs, line, raw, fmt.Sprintf("line %d: record does not match the schema of stream %s: %s", line, rs.conf.Name, strings.Join(problems, "; ")))
	}
	rs.batch.Append(row)
	rs.batch.Origins = append(rs.batch.Origins, line)
	rs.rows++
	rs.seen = true
	r.sinceState++
	if rs.batch.Len() >= r.req.BatchSize {
		return r.flush(ctx, rs)
	}
	return nil
}

// flush emits the stream's batch, after the pending STATE's checkpoint and
// the rows it covers.
func (r *reader) flush(ctx context.Context, rs *readStream) error {
	if err := r.passState(ctx); err != nil {
		return err
	}
	if rs.batch == nil || rs.batch.Len() == 0 {
		return nil
	}
	b := rs.batch
	rs.batch = nil
	return r.emit.Emit(ctx, b)
}

func (r *reader) flushAll(ctx context.Context) error {
	for _, rs := range r.order {
		if err := r.flush(ctx, rs); err != nil {
			return err
		}
	}
	return nil
}

// state takes a STATE message. It becomes a checkpoint of every selected
// stream, after the rows read before it, once a batch fills, a second has
// passed, or the tap ends; a newer STATE replaces it until then.
func (r *reader) state(ctx context.Context, value json.RawMessage) error {
	cp := checkpoint{Seq: r.seq, Singer: value}
	for _, rs := range r.order {
		if rs.seen {
			cp.Streams = append(cp.Streams, rs.conf.Name)
		}
		rs.covered = 0
		if rs.batch != nil {
			rs.covered = rs.batch.Len()
		}
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("STATE: %w", err)
	}
	r.seq++
	r.pending = b
	r.sinceState = 0
	if time.Since(r.lastPassed) >= stateEvery {
		return r.passState(ctx)
	}
	return nil
}

// passState emits the rows the pending STATE covers, then its checkpoint;
// rows read after it stay for the next batch.
func (r *reader) passState(ctx context.Context) error {
	if r.pending == nil {
		return nil
	}
	for _, rs := range r.order {
		b := rs.batch
		n := rs.covered
		rs.covered = 0
		if b == nil || n == 0 {
			continue
		}
		if n < b.Len() {
			rest := connector.NewBatch(b.Stream, b.Schema, r.req.BatchSize)
			rest.File = b.File
			rest.Rows = append(rest.Rows, b.Rows[n:]...)
			rest.Origins = append(rest.Origins, b.Origins[n:]...)
			clear(b.Rows[n:])
			b.Rows, b.Origins = b.Rows[:n], b.Origins[:n]
			rs.batch = rest
		} else {
			rs.batch = nil
		}
		if err := r.emit.Emit(ctx, b); err != nil {
			return err
		}
	}
	state := r.pending
	r.pending = nil
	r.lastPassed = time.Now()
	for _, rs := range r.order {
		if err := r.emit.Checkpoint(ctx, rs.conf.Name, state); err != nil {
			return err
		}
	}
	return nil
}
