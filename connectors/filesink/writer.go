package filesink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/location"
)

// bufSize is the write buffer of a part: large enough that a part is
// written in few system calls.
const bufSize = 1 << 20

// writer loads one stream. It is used by one goroutine.
type writer struct {
	d    *Destination
	ctx  context.Context
	fs   location.FS
	load connector.Load
	dir  string    // inside fs
	man  *Manifest // as committed on disk
	gen  int64     // generation the parts of this load belong to
	seq  int64     // next part number

	schema *connector.Schema // what this load writes, evolved batch by batch
	plan   plan
	in     *connector.Schema // the batch schema plan was made for

	bw      *bufio.Writer
	cur     *openPart
	pending []partFile // closed, at their temporary names
	staged  []partFile // overwrite: committed, published at Close
	// committed reports a Commit in this load; lastState is its state.
	committed bool
	lastState json.RawMessage

	q       *quarantine
	rows    [][]any // reused for conformed rows
	slab    []any
	written int64 // rows written since the last commit
	closed  bool
}

type openPart struct {
	name   string
	tmp    string
	f      location.Writer
	enc    Encoder
	schema *connector.Schema
	rows   int64
}

type partFile struct {
	Part
	schema *connector.Schema
	tmp    string
}

func (d *Destination) open(ctx context.Context, load connector.Load) (*writer, error) {
	if load.Stream == "" {
		return nil, errors.New("stream name is empty")
	}
	switch load.SyncMode {
	case "", connector.FullRefreshAppend, connector.IncrementalAppend, connector.FullRefreshOverwrite:
	case connector.IncrementalDedup:
		if len(load.PrimaryKey) == 0 {
			return nil, fmt.Errorf("stream %q: incremental_dedup needs a primary key", load.Stream)
		}
	default:
		return nil, fmt.Errorf("stream %q: unknown sync mode %q", load.Stream, load.SyncMode)
	}
	if load.SchemaPolicy == "" {
		load.SchemaPolicy = connector.SchemaEvolve
	}
	fsys, root, err := d.resolve(ctx)
	if err != nil {
		return nil, err
	}
	dir := fsys.Join(root, SafeName(load.Stream))
	if err := fsys.MkdirAll(ctx, dir); err != nil {
		return nil, fmt.Errorf("create stream directory: %w", err)
	}
	m, err := readManifest(ctx, fsys, dir)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = &Manifest{Stream: load.Stream, Format: d.format.Name(), Generation: 1}
	}
	switch {
	case m.Format != d.format.Name():
		return nil, fmt.Errorf("stream %q: %s holds %s parts, not %s", load.Stream, fsys.URL(dir), m.Format, d.format.Name())
	case m.Stream != load.Stream:
		return nil, fmt.Errorf("stream %q: %s belongs to stream %q", load.Stream, fsys.URL(dir), m.Stream)
	}
	if err := clean(ctx, fsys, dir, m); err != nil {
		return nil, err
	}
	q, err := openQuarantine(ctx, fsys, fsys.Join(root, SafeName(load.Stream)+quarantineSuffix), m.QuarantineBytes)
	if err != nil {
		return nil, err
	}
	w := &writer{d: d, ctx: ctx, fs: fsys, load: load, dir: dir, man: m, gen: m.Generation, seq: m.NextSeq, q: q}
	switch {
	case load.SyncMode == connector.FullRefreshOverwrite:
		w.gen++
		w.schema = cloneSchema(load.Schema)
	case m.Schema != nil && len(m.Schema.Fields) > 0:
		w.schema = m.Schema.Clone()
	default:
		w.schema = cloneSchema(load.Schema)
	}
	return w, nil
}

func cloneSchema(s *connector.Schema) *connector.Schema {
	if s == nil {
		return &connector.Schema{}
	}
	return s.Clone()
}

// clean removes what a killed run left in a stream directory: temporary
// files, parts the manifest does not list and unfinished uploads. Other
// files are left alone.
func clean(ctx context.Context, fsys location.FS, dir string, m *Manifest) error {
	if a, ok := fsys.(location.UploadAborter); ok {
		if err := a.AbortUploads(ctx, dir); err != nil {
			return err
		}
	}
	listed := make(map[string]bool, len(m.Parts))
	for _, p := range m.Parts {
		listed[p.File] = true
	}
	entries, err := fsys.ReadDir(ctx, dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", fsys.URL(dir), err)
	}
	for _, e := range entries {
		n := e.Name
		if e.Dir || listed[n] || !(strings.HasPrefix(n, tmpPrefix) || strings.HasPrefix(n, "part-")) {
			continue
		}
		if err := fsys.Remove(ctx, fsys.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove leftover %s: %w", n, err)
		}
	}
	return nil
}

// Write conforms the batch to the stream's schema under the load's policy
// and encodes it into the open part.
func (w *writer) Write(_ context.Context, b *connector.Batch) error {
	if w.closed {
		return errors.New("write after close")
	}
	if b.Len() == 0 {
		return nil
	}
	rows, err := w.conform(b)
	if err != nil {
		return fmt.Errorf("stream %q: %w", w.load.Stream, err)
	}
	return w.writeRows(rows)
}

func (w *writer) writeRows(rows [][]any) error {
	if w.cur == nil {
		if err := w.startPart(rows); err != nil {
			return err
		}
	}
	err := w.cur.enc.Write(rows)
	if errors.Is(err, ErrRotate) {
		if err := w.finishPart(); err != nil {
			return err
		}
		if err := w.startPart(rows); err != nil {
			return err
		}
		err = w.cur.enc.Write(rows)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", w.cur.name, err)
	}
	w.cur.rows += int64(len(rows))
	w.written += int64(len(rows))
	return nil
}

func (w *writer) startPart(first [][]any) error {
	name := fmt.Sprintf("part-%06d-%06d.%s", w.gen, w.seq, w.d.format.Ext())
	w.seq++
	// A store where a file appears only whole (S3) takes the part under
	// its final name: unlisted in the manifest, it is no data until the
	// commit lists it, and the next Open removes it if none does. That
	// spares a copy, S3 having no rename.
	tmp := w.fs.Join(w.dir, tmpPrefix+name)
	if w.fs.DirectCreate() {
		tmp = w.fs.Join(w.dir, name)
	}
	f, err := w.fs.Create(w.ctx, tmp)
	if err != nil {
		return fmt.Errorf("create part: %w", err)
	}
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, bufSize)
	} else {
		w.bw.Reset(f)
	}
	enc, err := w.d.format.NewEncoder(w.bw, w.schema, first)
	if err != nil {
		f.Abort()
		return fmt.Errorf("start part %s: %w", name, err)
	}
	w.cur = &openPart{name: name, tmp: tmp, f: f, enc: enc, schema: w.schema.Clone()}
	return nil
}

// finishPart ends the open part and syncs it; it stays at its temporary
// name until the next commit.
func (w *writer) finishPart() error {
	p := w.cur
	if p == nil {
		return nil
	}
	w.cur = nil
	if p.rows == 0 {
		return p.f.Abort()
	}
	err := p.enc.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	var size int64
	if err == nil {
		size, err = p.f.Commit()
	}
	if err != nil {
		p.f.Abort()
		return fmt.Errorf("finish part %s: %w", p.name, err)
	}
	w.pending = append(w.pending, partFile{
		Part:   Part{File: p.name, Rows: p.rows, Bytes: size, RunID: w.load.RunID},
		schema: p.schema,
		tmp:    p.tmp,
	})
	return nil
}

// discard drops the open part and the parts not committed.
func (w *writer) discard() {
	if p := w.cur; p != nil {
		w.cur = nil
		p.f.Abort()
	}
	for _, p := range w.pending {
		w.fs.Remove(w.ctx, p.tmp)
	}
	w.pending = nil
}

// Quarantine appends rejects to the stream's quarantine file; they are
// committed with the next Commit.
func (w *writer) Quarantine(_ context.Context, rejects []connector.Reject) error {
	if w.closed {
		return errors.New("quarantine after close")
	}
	if err := w.q.write(w.load, rejects); err != nil {
		return fmt.Errorf("stream %q: %w", w.load.Stream, err)
	}
	return nil
}

// Commit renames the parts written since the last commit into place and
// replaces the manifest with one listing them, the state and the
// quarantine length: one atomic rename commits all three. An overwrite
// only stages its parts here; Close publishes them.
func (w *writer) Commit(_ context.Context, state json.RawMessage) error {
	if w.closed {
		return errors.New("commit after close")
	}
	if err := w.commit(state); err != nil {
		return fmt.Errorf("stream %q: commit: %w", w.load.Stream, err)
	}
	return nil
}

func (w *writer) commit(state json.RawMessage) error {
	if err := w.finishPart(); err != nil {
		return err
	}
	if err := w.q.sync(); err != nil {
		return err
	}
	for _, p := range w.pending {
		if final := w.fs.Join(w.dir, p.File); p.tmp != final {
			if err := w.fs.Rename(w.ctx, p.tmp, final); err != nil {
				return fmt.Errorf("rename part: %w", err)
			}
		}
	}
	w.committed, w.written = true, 0
	if state != nil {
		w.lastState = append(json.RawMessage(nil), state...)
	}
	if w.load.SyncMode == connector.FullRefreshOverwrite {
		w.staged = append(w.staged, w.pending...)
		w.pending = nil
		return nil
	}
	m := w.man.clone()
	for _, p := range w.pending {
		p.Part.Schema = m.schemaIndex(p.schema)
		m.Parts = append(m.Parts, p.Part)
	}
	w.fill(m)
	if err := writeManifest(w.ctx, w.fs, w.dir, m); err != nil {
		return err
	}
	w.man, w.pending = m, nil
	return nil
}

// fill records in m what every commit carries: schema, part numbering,
// state and quarantine length.
func (w *writer) fill(m *Manifest) {
	m.Generation, m.NextSeq = w.gen, w.seq
	if len(w.schema.Fields) > 0 || m.Schema == nil {
		m.Schema = w.schema.Clone()
	}
	if w.lastState != nil {
		if m.State == nil {
			m.State = map[string]json.RawMessage{}
		}
		m.State[w.load.Pipeline] = w.lastState
	}
	m.QuarantineBytes = w.q.synced
}

// Close ends the load. Without ok it rolls back to the last commit. With
// ok, an overwrite swaps its generation in and an incremental_dedup load
// merges the stream on its primary key. Rows written after the last
// commit are never published: no state covers them.
func (w *writer) Close(ctx context.Context, ok bool) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if ok && (w.written > 0 || w.cur != nil && w.cur.rows > 0) {
		w.d.log.Warn("rows written after the last commit are discarded", "stream", w.load.Stream, "rows", w.written)
	}
	w.discard()
	var err error
	switch {
	case !ok:
		for _, p := range w.staged {
			w.fs.Remove(ctx, w.fs.Join(w.dir, p.File))
		}
		w.staged = nil
		err = w.q.rollback(w.man.QuarantineBytes)
	case w.load.SyncMode == connector.FullRefreshOverwrite:
		if err = w.q.rollback(w.q.synced); err == nil && w.committed {
			err = w.publish()
		}
	case w.load.SyncMode == connector.IncrementalDedup:
		if err = w.q.rollback(w.q.synced); err == nil {
			err = w.merge(ctx)
		}
	default:
		err = w.q.rollback(w.q.synced)
	}
	if cerr := w.q.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("stream %q: close: %w", w.load.Stream, err)
	}
	return nil
}

// publish swaps the overwrite's generation in with one manifest rename,
// then removes the parts of the old one.
func (w *writer) publish() error {
	m := w.man.clone()
	old := m.Parts
	m.Parts, m.Schemas = nil, nil
	for _, p := range w.staged {
		p.Part.Schema = m.schemaIndex(p.schema)
		m.Parts = append(m.Parts, p.Part)
	}
	w.fill(m)
	if err := writeManifest(w.ctx, w.fs, w.dir, m); err != nil {
		return err
	}
	w.man, w.staged = m, nil
	w.removeParts(old)
	return nil
}

// removeParts deletes parts no manifest lists any longer. A failure only
// leaves a file the next Open removes.
func (w *writer) removeParts(parts []Part) {
	for _, p := range parts {
		if err := w.fs.Remove(w.ctx, w.fs.Join(w.dir, p.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.d.log.Warn("remove replaced part", "stream", w.load.Stream, "part", p.File, "error", err)
		}
	}
}
