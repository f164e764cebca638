package jsonl

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/filesink/sinktest"
)

func TestDestinationConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Options{Format: SinkFormat()})
}

// TestDestinationLines checks the text itself: what other tools read.
func TestDestinationLines(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dst, err := connector.NewDestination(ctx, "jsonl", json.RawMessage(`{"path":"`+dir+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	w, err := dst.Open(ctx, connector.Load{Pipeline: "p", RunID: "r", Stream: "types", Schema: sinktest.AllTypes, SyncMode: connector.FullRefreshAppend})
	if err != nil {
		t.Fatal(err)
	}
	b := connector.NewBatch("types", sinktest.AllTypes, 4)
	for _, r := range sinktest.AllTypesRows() {
		b.Append(r)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	parts, err := filesink.Parts(dir, "types")
	if err != nil || len(parts) != 1 {
		t.Fatalf("parts = %v, %v", parts, err)
	}
	data, err := os.ReadFile(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	tests := []struct {
		line int
		want string
	}{
		{0, `"decimal":123.45,`},
		{0, `"date":"2024-02-29",`},
		{0, `"timestamp":"2024-03-01T12:30:45.123456789Z",`},
		{0, `"bytes":"AAEC/w==",`},
		{0, `"json":{"a":[1,"x",null],"b":true}}`},
		{0, `"int64":9223372036854775807,`},
		{1, `"decimal":-99999999999999.9999,`},
		{1, `"float64":-0.000001,`},
		{1, `newline \n tab \t unicode é 名 emoji 🎉"`},
		{2, `"float64":1e+300,`},
		{3, `{"bool":null,"int64":null,`},
	}
	for _, tc := range tests {
		if !strings.Contains(lines[tc.line], tc.want) {
			t.Errorf("line %d = %s\nwant it to contain %s", tc.line, lines[tc.line], tc.want)
		}
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("line %d is not valid JSON: %s", i, l)
		}
	}
}

func TestDestinationConfig(t *testing.T) {
	tests := []struct {
		config  string
		wantErr bool
	}{
		{`{"path":"out"}`, false},
		{`{}`, true},
		{`{"path":"out","typo":1}`, true},
	}
	for _, tc := range tests {
		_, err := NewDestination(context.Background(), json.RawMessage(tc.config))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.config, err, tc.wantErr)
		}
	}
}

func BenchmarkDestinationWrite(b *testing.B) {
	sinktest.BenchmarkWrite(b, SinkFormat())
}

// TestDestinationKilled kills a real writer process at random moments and
// resumes it from the state the destination holds, until it finishes:
// every row must then be present exactly once.
func TestDestinationKilled(t *testing.T) {
	const total = 20000
	if dir := os.Getenv("TRIBUTARY_KILL_DIR"); dir != "" {
		killChild(t, dir, total)
		return
	}
	dir := t.TempDir()
	for round := 0; ; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDestinationKilled$")
		cmd.Env = append(os.Environ(), "TRIBUTARY_KILL_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if round < 15 {
			select {
			case err = <-done:
			case <-time.After(time.Duration(20+rand.IntN(150)) * time.Millisecond):
				cmd.Process.Kill()
				<-done
				continue
			}
		} else {
			err = <-done
		}
		if err != nil {
			t.Fatalf("writer failed: %v", err)
		}
		t.Logf("finished after %d kills", round)
		break
	}
	seen := make([]int, total+1)
	err := ReadCommitted(context.Background(), dir, "rows", func(_ *connector.Schema, row []any) error {
		seen[row[0].(int64)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := 1; id <= total; id++ {
		if seen[id] != 1 {
			t.Fatalf("id %d present %d times", id, seen[id])
		}
	}
	// One reject was committed with each batch: exactly one line each.
	q, err := os.ReadFile(filepath.Join(dir, "rows.quarantine.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	origins := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(q)), "\n") {
		var r filesink.QuarantineRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("quarantine line %q: %v", l, err)
		}
		origins[r.Origin]++
	}
	if len(origins) != total/250 {
		t.Errorf("quarantine holds %d distinct records, want %d", len(origins), total/250)
	}
	for o, n := range origins {
		if n != 1 {
			t.Errorf("quarantine record %s present %d times", o, n)
		}
	}
}

// killChild is the writer the test kills: it resumes after the committed
// offset and commits every batch.
func killChild(t *testing.T, dir string, total int) {
	ctx := context.Background()
	d, err := filesink.New(dir, SinkFormat())
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.State(ctx, "kill")
	if err != nil {
		t.Fatal(err)
	}
	var offset struct{ N int }
	if st["rows"] != nil {
		if err := json.Unmarshal(st["rows"], &offset); err != nil {
			t.Fatal(err)
		}
	}
	schema := connector.NewSchema(connector.Field{Name: "id", Type: connector.TypeInt64}, connector.Field{Name: "pad", Type: connector.TypeString})
	w, err := d.Open(ctx, connector.Load{Pipeline: "kill", RunID: "r", Stream: "rows", Schema: schema, SyncMode: connector.IncrementalAppend})
	if err != nil {
		t.Fatal(err)
	}
	for n := offset.N; n < total; {
		b := connector.NewBatch("rows", schema, 250)
		for range 250 {
			n++
			b.Append([]any{int64(n), strings.Repeat("x", 100)})
		}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := w.Quarantine(ctx, []connector.Reject{{Origin: "n:" + strconv.Itoa(n), Raw: "r", Reason: "test"}}); err != nil {
			t.Fatal(err)
		}
		state, _ := json.Marshal(map[string]int{"N": n})
		if err := w.Commit(ctx, state); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
}
