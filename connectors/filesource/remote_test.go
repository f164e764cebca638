package filesource_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/tributary-data/tributary/connector"
	_ "github.com/tributary-data/tributary/connectors/csv"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
	_ "github.com/tributary-data/tributary/connectors/json"
	_ "github.com/tributary-data/tributary/connectors/jsonl"
	"github.com/tributary-data/tributary/connectors/location"
	"github.com/tributary-data/tributary/connectors/location/peertest"
	_ "github.com/tributary-data/tributary/connectors/parquet"
	_ "github.com/tributary-data/tributary/connectors/xml"
)

// remote is a place files are read from in these tests.
type remote struct {
	name string
	opts location.Options
	// url names file name of the test's directory.
	url    func(name string) string
	put    func(t *testing.T, name string, data []byte)
	remove func(t *testing.T, name string)
	// glob is false where a URL names one file only (https).
	glob bool
	// ranges counts the ranged requests a server answered, where the
	// test serves the files itself.
	ranges func() int
}

// store is a remote written through its own file system.
func store(t *testing.T, name string, opts location.Options, root string) remote {
	r := location.NewResolver(opts)
	t.Cleanup(func() { r.Close() })
	ctx := context.Background()
	at := func(t *testing.T, n string) (location.FS, string) {
		t.Helper()
		f, p, err := r.Resolve(ctx, root+"/"+n)
		if err != nil {
			t.Fatal(err)
		}
		return f, p
	}
	return remote{
		name: name, opts: opts, glob: true,
		url: func(n string) string { return root + "/" + n },
		put: func(t *testing.T, n string, data []byte) {
			f, p := at(t, n)
			if err := f.MkdirAll(ctx, pathDir(p)); err != nil {
				t.Fatal(err)
			}
			if err := f.WriteFile(ctx, p, ".tmp-", data); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T, n string) {
			f, p := at(t, n)
			if err := f.Remove(ctx, p); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func pathDir(p string) string {
	if i := strings.LastIndex(p, "/"); i > 0 {
		return p[:i]
	}
	return "/"
}

// files is an HTTPS server of files kept in memory, answering with
// http.ServeContent: ETag, Last-Modified, ranges and If-Match.
type files struct {
	mu         sync.Mutex
	data       map[string][]byte
	validators bool
	weak       bool // weak ETags, as compressing servers send
	ranges     int
}

func (f *files) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	b, ok := f.data[strings.TrimPrefix(r.URL.Path, "/")]
	if r.Header.Get("Range") != "" {
		f.ranges++
	}
	validators, weak := f.validators, f.weak
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	var mod time.Time
	if validators {
		sum := sha256.Sum256(b)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		if weak {
			etag = "W/" + etag
		}
		w.Header().Set("ETag", etag)
		mod = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	http.ServeContent(w, r, "", mod, bytes.NewReader(b))
}

func remotes(t *testing.T) []remote {
	s3 := peertest.StartS3(t)
	sf := peertest.StartSFTP(t)
	fs := &files{data: map[string][]byte{}, validators: true}
	srv, ca := peertest.StartHTTPS(t, fs)
	https := remote{
		name: "https", opts: location.Options{CAFile: ca},
		url: func(n string) string { return srv.URL + "/" + n },
		put: func(t *testing.T, n string, data []byte) {
			fs.mu.Lock()
			fs.data[n] = data
			fs.mu.Unlock()
		},
		remove: func(t *testing.T, n string) {
			fs.mu.Lock()
			delete(fs.data, n)
			fs.mu.Unlock()
		},
		ranges: func() int {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			return fs.ranges
		},
	}
	return []remote{
		store(t, "s3", s3.Options(), "s3://"+s3.Bucket(t)+"/in"),
		store(t, "sftp", sf.Options(), sf.URL("in")),
		https,
	}
}

func source(t *testing.T, kind string, rm remote, path string, extra map[string]any) connector.Source {
	t.Helper()
	raw, _ := json.Marshal(rm.opts)
	cfg := map[string]any{}
	json.Unmarshal(raw, &cfg)
	cfg["path"] = path
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ = json.Marshal(cfg)
	src, err := connector.NewSource(context.Background(), kind, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func read(t *testing.T, src connector.Source, st connector.Stream, state json.RawMessage) (*sourcetest.Emitter, error) {
	t.Helper()
	e := &sourcetest.Emitter{}
	req := connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: 3}
	if state != nil {
		req.State = map[string]json.RawMessage{st.Name: state}
	}
	return e, src.Read(context.Background(), req, e)
}

func ids(e *sourcetest.Emitter) []string {
	var out []string
	for _, r := range e.Rows() {
		out = append(out, connector.FormatValue(r.Values["id"]))
	}
	return out
}

func gz(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return buf.Bytes()
}

func parquetFile(t *testing.T, from, to int) []byte {
	type row struct {
		ID   int64  `parquet:"id"`
		Name string `parquet:"name"`
	}
	var rows []row
	for i := from; i <= to; i++ {
		rows = append(rows, row{int64(i), fmt.Sprint("n", i)})
	}
	p := filepath.Join(t.TempDir(), "f.parquet")
	if err := pq.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRemoteFormats reads every file format from every remote: two files
// through a glob where the remote lists, one file by URL over https.
func TestRemoteFormats(t *testing.T) {
	formats := []struct {
		kind, ext string
		extra     map[string]any
		file      func(t *testing.T, from, to int) []byte
	}{
		{"csv", "csv", nil, func(t *testing.T, from, to int) []byte {
			s := "id,name\n"
			for i := from; i <= to; i++ {
				s += fmt.Sprintf("%d,n%d\n", i, i)
			}
			return []byte(s)
		}},
		{"csv", "csv.gz", nil, func(t *testing.T, from, to int) []byte {
			s := "id,name\n"
			for i := from; i <= to; i++ {
				s += fmt.Sprintf("%d,n%d\n", i, i)
			}
			return gz(s)
		}},
		{"jsonl", "jsonl", nil, func(t *testing.T, from, to int) []byte {
			s := ""
			for i := from; i <= to; i++ {
				s += fmt.Sprintf(`{"id":%d,"name":"n%d"}`+"\n", i, i)
			}
			return []byte(s)
		}},
		{"json", "json", map[string]any{"records": "data"}, func(t *testing.T, from, to int) []byte {
			var recs []string
			for i := from; i <= to; i++ {
				recs = append(recs, fmt.Sprintf(`{"id":%d,"name":"n%d"}`, i, i))
			}
			return []byte(`{"data":[` + strings.Join(recs, ",") + `]}`)
		}},
		{"xml", "xml", map[string]any{"record_path": "rows/row"}, func(t *testing.T, from, to int) []byte {
			s := "<rows>"
			for i := from; i <= to; i++ {
				s += fmt.Sprintf("<row><id>%d</id><name>n%d</name></row>", i, i)
			}
			return []byte(s + "</rows>")
		}},
		{"parquet", "parquet", nil, parquetFile},
	}
	for _, rm := range remotes(t) {
		for _, f := range formats {
			t.Run(rm.name+"/"+f.ext, func(t *testing.T) {
				dir := f.ext + "/"
				rm.put(t, dir+"a."+f.ext, f.file(t, 1, 2))
				rm.put(t, dir+"b."+f.ext, f.file(t, 3, 4))
				rm.put(t, dir+"other.txt", []byte("not data"))
				path, want := rm.url(dir+"*."+f.ext), []string{"1", "2", "3", "4"}
				if !rm.glob {
					path, want = rm.url(dir+"b."+f.ext), []string{"3", "4"}
				}
				src := source(t, f.kind, rm, path, f.extra)
				if err := src.Check(context.Background()); err != nil {
					t.Fatalf("check: %v", err)
				}
				cat, err := src.Discover(context.Background())
				if err != nil {
					t.Fatalf("discover: %v", err)
				}
				if got := cat.Streams[0].Schema.Names(); !slices.Equal(got, []string{"id", "name"}) {
					t.Errorf("discovered columns %v", got)
				}
				e, err := read(t, src, connector.Stream{Name: cat.Streams[0].Name}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(e); !slices.Equal(got, want) {
					t.Fatalf("ids = %v, want %v", got, want)
				}
				rows := e.Rows()
				if last := rows[len(rows)-1]; !strings.HasPrefix(last.Origin, rm.url(dir+"b."+f.ext)) || last.Values["name"] != "n4" {
					t.Errorf("last row %+v: origin should name %s", last, rm.url(dir+"b."+f.ext))
				}
			})
		}
	}
}

// TestRemoteIncremental: a run with the state of the last one reads new
// and changed files only.
func TestRemoteIncremental(t *testing.T) {
	csvOf := func(ids ...int) []byte {
		s := "id,name\n"
		for _, i := range ids {
			s += fmt.Sprintf("%d,n%d\n", i, i)
		}
		return []byte(s)
	}
	for _, rm := range remotes(t) {
		t.Run(rm.name, func(t *testing.T) {
			rm.put(t, "inc/a.csv", csvOf(1, 2))
			path := rm.url("inc/a.csv")
			if rm.glob {
				rm.put(t, "inc/b.csv", csvOf(3))
				path = rm.url("inc/*.csv")
			}
			src := source(t, "csv", rm, path, nil)
			st := connector.Stream{Name: "s", SyncMode: connector.IncrementalAppend}
			steps := []struct {
				change func()
				want   []string
			}{
				{func() {}, map[bool][]string{true: {"1", "2", "3"}, false: {"1", "2"}}[rm.glob]},
				{func() {}, nil},
				{func() {
					// A rewrite of a different size: SFTP keeps times in
					// whole seconds, so size (or S3's and HTTP's ETag)
					// tells a rewrite within the same second.
					rm.put(t, "inc/a.csv", csvOf(1, 2, 10))
					if rm.glob {
						rm.put(t, "inc/c.csv", csvOf(20))
					}
				}, map[bool][]string{true: {"1", "2", "10", "20"}, false: {"1", "2", "10"}}[rm.glob]},
				{func() {}, nil},
			}
			var state json.RawMessage
			for i, step := range steps {
				step.change()
				e, err := read(t, src, st, state)
				if err != nil {
					t.Fatalf("run %d: %v", i+1, err)
				}
				if got := ids(e); !slices.Equal(got, step.want) {
					t.Fatalf("run %d read %v, want %v", i+1, got, step.want)
				}
				if e.Last() != nil {
					state = e.Last()
				}
			}
		})
	}
}

// TestRemoteResume stops a read after every checkpoint and resumes it
// from the state, as a killed run would: csv and jsonl resume inside the
// file with a ranged read, and every row arrives exactly once.
func TestRemoteResume(t *testing.T) {
	var csvData, jsonlData strings.Builder
	csvData.WriteString("id,name\n")
	var want []string
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&csvData, "%d,n%d\n", i, i)
		fmt.Fprintf(&jsonlData, `{"id":%d,"name":"n%d"}`+"\n", i, i)
		want = append(want, fmt.Sprint(i))
	}
	for _, rm := range remotes(t) {
		for _, f := range []struct{ kind, data string }{{"csv", csvData.String()}, {"jsonl", jsonlData.String()}} {
			t.Run(rm.name+"/"+f.kind, func(t *testing.T) {
				name := "resume/data." + f.kind
				rm.put(t, name, []byte(f.data))
				src := source(t, f.kind, rm, rm.url(name), nil)
				var before int
				if rm.ranges != nil {
					before = rm.ranges()
				}
				// 8 divides the 40 rows: a checkpoint falls on the end of
				// the file, and the next run resumes at its very end.
				for _, batch := range []int{7, 8} {
					e := sourcetest.ReadInPieces(t, src, connector.Stream{Name: "s", SyncMode: connector.IncrementalAppend}, batch, 1)
					if got := ids(e); !slices.Equal(got, want) {
						t.Fatalf("batch %d: ids = %v, want 1..40 once each", batch, got)
					}
					if len(e.Checkpoints) < 6 {
						t.Errorf("batch %d: %d checkpoints: the read was not cut into pieces", batch, len(e.Checkpoints))
					}
				}
				if rm.ranges != nil && rm.ranges()-before < 10 {
					t.Errorf("%d ranged requests: the runs did not resume inside the file", rm.ranges()-before)
				}
			})
		}
	}
}

// cutEmitter runs hook at the first batch, while the first file is read.
type cutEmitter struct {
	sourcetest.Emitter
	hook func()
}

func (e *cutEmitter) Emit(ctx context.Context, b *connector.Batch) error {
	if e.hook != nil {
		e.hook()
		e.hook = nil
	}
	return e.Emitter.Emit(ctx, b)
}

// TestRemoteChangedMidRead: a file rewritten or deleted after the listing
// fails the read with an error naming it; rows of the files before it
// stay committed.
func TestRemoteChangedMidRead(t *testing.T) {
	for _, rm := range remotes(t) {
		if !rm.glob {
			continue
		}
		for _, change := range []string{"rewritten", "deleted"} {
			t.Run(rm.name+"/"+change, func(t *testing.T) {
				dir := "mid-" + change + "/"
				rm.put(t, dir+"a.jsonl", []byte("{\"id\":1}\n{\"id\":2}\n"))
				rm.put(t, dir+"b.jsonl", []byte("{\"id\":3}\n"))
				src := source(t, "jsonl", rm, rm.url(dir+"*.jsonl"), nil)
				e := &cutEmitter{hook: func() {
					if change == "deleted" {
						rm.remove(t, dir+"b.jsonl")
					} else {
						rm.put(t, dir+"b.jsonl", []byte("{\"id\":3}\n{\"id\":4}\n"))
					}
				}}
				err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "s"}}, BatchSize: 1}, e)
				if err == nil || !strings.Contains(err.Error(), rm.url(dir+"b.jsonl")) {
					t.Fatalf("error = %v, want one naming %s", err, rm.url(dir+"b.jsonl"))
				}
				if rm.name == "s3" && change == "rewritten" && !strings.Contains(err.Error(), "changed since it was listed") {
					t.Errorf("error = %v, want it to say the file changed", err)
				}
				if got := ids(&e.Emitter); !slices.Equal(got, []string{"1", "2"}) {
					t.Errorf("rows before the error = %v, want those of a.jsonl", got)
				}
			})
		}
	}
}

// TestHTTPSWithoutValidators: a server that sends neither ETag nor
// Last-Modified cannot say a file is unchanged, so every run reads it.
func TestHTTPSWithoutValidators(t *testing.T) {
	fs := &files{data: map[string][]byte{"d.csv": []byte("id\n1\n2\n")}}
	srv, ca := peertest.StartHTTPS(t, fs)
	rm := remote{opts: location.Options{CAFile: ca}}
	src := source(t, "csv", rm, srv.URL+"/d.csv", nil)
	st := connector.Stream{Name: "s", SyncMode: connector.IncrementalAppend}
	var state json.RawMessage
	for run := 1; run <= 2; run++ {
		e, err := read(t, src, st, state)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(e); !slices.Equal(got, []string{"1", "2"}) {
			t.Fatalf("run %d read %v", run, got)
		}
		state = e.Last()
	}
	// Without the CA, the server's certificate is refused.
	bare := source(t, "csv", remote{}, srv.URL+"/d.csv", nil)
	if _, err := read(t, bare, st, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("read without ca_file: %v, want a certificate error", err)
	}
	if _, err := read(t, source(t, "csv", rm, srv.URL+"/missing.csv", nil), st, nil); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

// TestRemoteDocExamples builds the sources of the remote files page.
func TestRemoteDocExamples(t *testing.T) {
	sourcetest.CheckDocExamples(t, "../../docs/connectors/remote-files.md", "csv")
}

// TestHTTPSWeakETag: a weak ETag still tells an unchanged file, and is not
// sent as If-Match, which compares strongly and would refuse every read.
func TestHTTPSWeakETag(t *testing.T) {
	fs := &files{data: map[string][]byte{"d.csv": []byte("id\n1\n2\n")}, validators: true, weak: true}
	srv, ca := peertest.StartHTTPS(t, fs)
	src := source(t, "csv", remote{opts: location.Options{CAFile: ca}}, srv.URL+"/d.csv", nil)
	st := connector.Stream{Name: "s", SyncMode: connector.IncrementalAppend}
	var state json.RawMessage
	for run, want := range [][]string{{"1", "2"}, nil, {"1", "2", "3"}} {
		if run == 2 {
			fs.mu.Lock()
			fs.data["d.csv"] = []byte("id\n1\n2\n3\n")
			fs.mu.Unlock()
		}
		e, err := read(t, src, st, state)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if got := ids(e); !slices.Equal(got, want) {
			t.Fatalf("run %d read %v, want %v", run+1, got, want)
		}
		if e.Last() != nil {
			state = e.Last()
		}
	}
}
