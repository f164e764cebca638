package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
)

// genSource emits n rows of (id int64, amount string) per stream in
// batches of 10, with a checkpoint {"next": id} after each batch, and
// rejects every id listed in bad. It resumes from the checkpoint.
type genSource struct {
	n   int
	bad map[int]bool
	// failAt makes Read fail once it reaches that id, like a crash.
	failAt int
}

type genConfig struct {
	Rows   int   `json:"rows"`
	Bad    []int `json:"bad,omitempty"`
	FailAt int   `json:"fail_at,omitempty"`
}

func (g *genSource) Check(context.Context) error { return nil }
func (g *genSource) Close() error                { return nil }
func (g *genSource) Discover(context.Context) (*connector.Catalog, error) {
	return &connector.Catalog{}, nil
}

func (g *genSource) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	schema := connector.NewSchema(connector.Field{Name: "id", Type: connector.TypeInt64}, connector.Field{Name: "amount", Type: connector.TypeString})
	for _, st := range req.Streams {
		start := 0
		if s := req.State[st.Name]; s != nil {
			var cp struct{ Next int }
			if err := json.Unmarshal(s, &cp); err != nil {
				return err
			}
			start = cp.Next
		}
		b := connector.NewBatch(st.Name, schema, 10)
		n := g.n
		if req.Limit > 0 {
			n = min(n, start+req.Limit)
		}
		for id := start; id < n; id++ {
			if g.failAt > 0 && id == g.failAt {
				return fmt.Errorf("source died at %d", id)
			}
			if g.bad[id] {
				if err := emit.Reject(ctx, connector.Reject{Stream: st.Name, Origin: "gen:" + strconv.Itoa(id), Raw: "?", Reason: "bad row"}); err != nil {
					return err
				}
			} else {
				b.Append([]any{int64(id), strconv.Itoa(id) + ".5"})
			}
			if (id+1)%10 == 0 || id == n-1 {
				if b.Len() > 0 {
					if err := emit.Emit(ctx, b); err != nil {
						return err
					}
					b = connector.NewBatch(st.Name, schema, 10)
				}
				if err := emit.Checkpoint(ctx, st.Name, fmt.Appendf(nil, `{"next":%d}`, id+1)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// memDestination keeps committed rows and state in memory, as a
// transactional destination does on disk.
type memDestination struct {
	mu         sync.Mutex
	committed  map[string][][]any
	quarantine map[string][]connector.Reject
	state      map[string]json.RawMessage
	closedOK   map[string]bool
}

type memWriter struct {
	d       *memDestination
	load    connector.Load
	rows    [][]any
	rejects []connector.Reject
}

func (d *memDestination) Check(context.Context) error { return nil }
func (d *memDestination) Close() error                { return nil }
func (d *memDestination) Open(_ context.Context, l connector.Load) (connector.Writer, error) {
	return &memWriter{d: d, load: l}, nil
}
func (w *memWriter) Write(_ context.Context, b *connector.Batch) error {
	w.rows = append(w.rows, b.Rows...)
	return nil
}
func (w *memWriter) Quarantine(_ context.Context, r []connector.Reject) error {
	w.rejects = append(w.rejects, r...)
	return nil
}
func (w *memWriter) Commit(_ context.Context, state json.RawMessage) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.d.committed[w.load.Stream] = append(w.d.committed[w.load.Stream], w.rows...)
	w.d.quarantine[w.load.Stream] = append(w.d.quarantine[w.load.Stream], w.rejects...)
	w.d.state[w.load.Stream] = state
	w.rows, w.rejects = nil, nil
	return nil
}
func (w *memWriter) Close(_ context.Context, ok bool) error {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.d.closedOK[w.load.Stream] = ok
	return nil
}

type memStateDestination struct{ *memDestination }

func (d memStateDestination) State(context.Context, string) (map[string]json.RawMessage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]json.RawMessage{}
	for k, v := range d.state {
		out[k] = v
	}
	return out, nil
}
func (d memStateDestination) ResetState(context.Context, string, ...string) error { return nil }

var dests sync.Map // name → *memDestination, so a test can look inside

func init() {
	spec := connector.NewSpec[genConfig, struct{}]("gen", "generated rows for engine tests")
	connector.RegisterSource(spec, func(_ context.Context, raw json.RawMessage) (connector.Source, error) {
		var c genConfig
		if err := connector.DecodeConfig(raw, &c); err != nil {
			return nil, err
		}
		g := &genSource{n: c.Rows, bad: map[int]bool{}, failAt: c.FailAt}
		for _, b := range c.Bad {
			g.bad[b] = true
		}
		return g, nil
	})
	type memConfig struct {
		Name  string `json:"name"`
		State bool   `json:"state,omitempty"`
	}
	connector.RegisterDestination(connector.NewSpec[memConfig, struct{}]("mem", "memory"), func(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
		var c memConfig
		if err := connector.DecodeConfig(raw, &c); err != nil {
			return nil, err
		}
		v, _ := dests.LoadOrStore(c.Name, &memDestination{committed: map[string][][]any{}, quarantine: map[string][]connector.Reject{}, state: map[string]json.RawMessage{}, closedOK: map[string]bool{}})
		d := v.(*memDestination)
		if c.State {
			return memStateDestination{d}, nil
		}
		return d, nil
	})
}

func spec(t *testing.T, dest, extra string, rows int, bad string, failAt int, state bool) *pipeline.Spec {
	t.Helper()
	doc := fmt.Sprintf(`version: 1
name: t
source:
  connector: gen
  config: {rows: %d, bad: [%s], fail_at: %d}
  streams:
    - name: s
%s
destination:
  connector: mem
  config: {name: %s, state: %v}
options:
  commit_rows: 20
`, rows, bad, failAt, extra, dest, state)
	s, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCountsAndQuarantine(t *testing.T) {
	s := spec(t, "counts", `      transforms:
        - cast: {amount: decimal}`, 95, "3, 50", 0, true)
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := res.Streams[0]
	if st.Read != 95 || st.Written != 93 || st.Quarantined != 2 || st.Read != st.Written+st.Quarantined+st.Filtered+st.Deduplicated {
		t.Fatalf("counts = %+v", st)
	}
	d, _ := dests.Load("counts")
	md := d.(*memDestination)
	if len(md.committed["s"]) != 93 || len(md.quarantine["s"]) != 2 || !md.closedOK["s"] {
		t.Fatalf("destination holds %d rows, %d rejects", len(md.committed["s"]), len(md.quarantine["s"]))
	}
	if q := md.quarantine["s"][0]; q.RunID != res.RunID || q.Origin != "gen:3" || q.Step != "read" {
		t.Errorf("reject = %+v", q)
	}
	if _, ok := md.committed["s"][0][1].(connector.Decimal); !ok {
		t.Errorf("cast did not run: %T", md.committed["s"][0][1])
	}
	if string(md.state["s"]) != `{"done":true,"state":{"next":95}}` {
		t.Errorf("state = %s", md.state["s"])
	}
}

func TestQuarantineRatioFailsRun(t *testing.T) {
	s := spec(t, "ratio", "", 30, "1, 2, 3, 4", 0, true)
	ratio := 0.05
	s.Options.MaxQuarantineRatio = &ratio
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	if err == nil || res.Status != Failed || !strings.Contains(err.Error(), "4 of 30 rows quarantined") || !strings.Contains(err.Error(), "gen:1: bad row") {
		t.Fatalf("err = %v, status %s", err, res.Status)
	}
}

// A crash halfway through a full refresh append must resume, not reload;
// a finished full refresh starts over next time.
func TestResumeAfterCrash(t *testing.T) {
	for _, mode := range []string{"full_refresh_append", "incremental_append"} {
		t.Run(mode, func(t *testing.T) {
			name := "resume-" + mode
			extra := "      sync_mode: " + mode
			r, _ := New(spec(t, name, extra, 100, "", 55, true), Options{})
			if _, err := r.Execute(context.Background()); err == nil {
				t.Fatal("want source failure")
			}
			d, _ := dests.Load(name)
			md := d.(*memDestination)
			// The source fails at 55: what its last checkpoint before that
			// (at 50) covers is committed, the rest rolled back.
			if n := len(md.committed["s"]); n != 50 {
				t.Fatalf("after the failure %d rows committed, want the 50 its checkpoints covered", n)
			}
			r, _ = New(spec(t, name, extra, 100, "", 0, true), Options{})
			if _, err := r.Execute(context.Background()); err != nil {
				t.Fatal(err)
			}
			seen := map[int64]int{}
			for _, row := range md.committed["s"] {
				seen[row[0].(int64)]++
			}
			for id := range int64(100) {
				if seen[id] != 1 {
					t.Fatalf("id %d loaded %d times", id, seen[id])
				}
			}
			r, _ = New(spec(t, name, extra, 100, "", 0, true), Options{})
			res, err := r.Execute(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := int64(100)
			if mode == "incremental_append" {
				want = 0
			}
			if res.Streams[0].Read != want {
				t.Errorf("third run read %d rows, want %d", res.Streams[0].Read, want)
			}
		})
	}
}

func TestStateFileWhenDestinationHoldsNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.state.json")
	extra := "      sync_mode: incremental_append"
	for i, want := range []int64{30, 0} {
		r, _ := New(spec(t, "file-state", extra, 30, "", 0, false), Options{StatePath: path})
		res, err := r.Execute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Streams[0].Read != want || res.StateStore != path {
			t.Errorf("run %d: read %d (want %d), state in %q", i, res.Streams[0].Read, want, res.StateStore)
		}
	}
	r, _ := New(spec(t, "file-state", extra, 30, "", 0, false), Options{StatePath: path, FullRefresh: true})
	res, err := r.Execute(context.Background())
	if err != nil || res.Streams[0].Read != 30 {
		t.Errorf("--full-refresh read %d rows, err %v", res.Streams[0].Read, err)
	}
}

func TestPreview(t *testing.T) {
	s := spec(t, "preview", `      transforms:
        - rename: {amount: price}
        - cast: {price: decimal}`, 1000, "2", 0, true)
	p, err := RunPreview(context.Background(), s, 5)
	if err != nil {
		t.Fatal(err)
	}
	sp := p.Streams[0]
	if len(sp.Steps) != 2 || sp.Steps[0].Step != "rename" || sp.Steps[1].Step != "cast" {
		t.Fatalf("steps = %+v", sp.Steps)
	}
	if got := sp.Steps[0].Before.Schema.Names(); got[1] != "amount" {
		t.Errorf("rename before = %v", got)
	}
	if got := sp.Output.Schema.Fields[1]; got.Name != "price" || got.Type != connector.TypeDecimal {
		t.Errorf("output field = %+v", got)
	}
	if len(sp.Input.Rows) > 10 || len(sp.Output.Rows) == 0 {
		t.Errorf("preview read %d rows, output %d", len(sp.Input.Rows), len(sp.Output.Rows))
	}
	if len(sp.Rejects) != 1 || sp.Rejects[0].Origin != "gen:2" {
		t.Errorf("rejects = %+v", sp.Rejects)
	}
	if d, ok := dests.Load("preview"); ok && len(d.(*memDestination).committed) > 0 {
		t.Error("preview wrote to the destination")
	}
}

func TestChecksAndProfile(t *testing.T) {
	cases := []struct {
		name      string
		checks    string
		wantErr   string
		committed int
	}{
		{"warn check does not stop the load", `{check: row_count, min: 1000}`, "", 50},
		{"fail check stops it before any commit", `{check: row_count, min: 1000, severity: fail}`, "check failed, nothing committed", 0},
		{"passing fail check commits at the end", `{check: unique, fields: [id], severity: fail}`, "", 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dest := "checks-" + c.name
			s := spec(t, dest, "      checks: ["+c.checks+"]", 50, "", 0, true)
			r, err := New(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Execute(context.Background())
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			d, _ := dests.Load(dest)
			if got := len(d.(*memDestination).committed["s"]); got != c.committed {
				t.Errorf("%d rows committed, want %d", got, c.committed)
			}
			st := res.Streams[0]
			if len(st.Checks) != 1 || len(st.Profile) != 2 || st.Profile[0].Name != "id" || st.Profile[0].Count != 50 {
				t.Errorf("checks %+v, profile %+v", st.Checks, st.Profile)
			}
		})
	}
}
