package csv

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesink"
	"github.com/tributary-data/tributary/connectors/filesink/sinktest"
)

func TestDestinationConformance(t *testing.T) {
	for _, delim := range []string{",", "tab", ";"} {
		t.Run(delim, func(t *testing.T) {
			f, err := SinkFormat(delim, true)
			if err != nil {
				t.Fatal(err)
			}
			sinktest.Run(t, sinktest.Options{Format: f, EmptyIsNull: true})
		})
	}
	t.Run("no header", func(t *testing.T) {
		f, _ := SinkFormat("", false)
		sinktest.Run(t, sinktest.Options{Format: f, EmptyIsNull: true})
	})
}

func writeStream(t *testing.T, config string, schemas []*connector.Schema, rows [][]any) []string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := strings.Replace(config, "DIR", dir, 1)
	dst, err := connector.NewDestination(ctx, "csv", json.RawMessage(cfg))
	if err != nil {
		t.Fatal(err)
	}
	w, err := dst.Open(ctx, connector.Load{Pipeline: "p", RunID: "r", Stream: "s", Schema: schemas[0], SyncMode: connector.FullRefreshAppend})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range schemas {
		b := connector.NewBatch("s", s, 1)
		b.Append(rows[i])
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	parts, err := filesink.Parts(dir, "s")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestDestinationText checks the bytes other tools read.
func TestDestinationText(t *testing.T) {
	narrow := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "note, with comma", Type: connector.TypeString, Nullable: true},
	)
	wide := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "note, with comma", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "amount", Type: connector.TypeDecimal, Nullable: true},
	)
	tests := []struct {
		name    string
		config  string
		schemas []*connector.Schema
		rows    [][]any
		want    []string
	}{
		{"quoting", `{"path":"DIR"}`, []*connector.Schema{narrow, narrow, narrow, narrow},
			[][]any{{int64(1), `say "hi"`}, {int64(2), ""}, {int64(3), nil}, {int64(4), " padded\nline"}},
			[]string{"id,\"note, with comma\"\n1,\"say \"\"hi\"\"\"\n2,\"\"\n3,\n4,\" padded\nline\"\n"}},
		{"evolve starts a part with the wider header", `{"path":"DIR"}`, []*connector.Schema{narrow, wide},
			[][]any{{int64(1), "a"}, {int64(2), "b", connector.Decimal{Unscaled: 1050, Scale: 2}}},
			[]string{"id,\"note, with comma\"\n1,a\n", "id,\"note, with comma\",amount\n2,b,10.50\n"}},
		{"tab without header", `{"path":"DIR","delimiter":"tab","header":false}`, []*connector.Schema{narrow},
			[][]any{{int64(1), "a,b\tc"}},
			[]string{"1\t\"a,b\tc\"\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := writeStream(t, tc.config, tc.schemas, tc.rows)
			if len(got) != len(tc.want) {
				t.Fatalf("parts = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("part %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDestinationConfig(t *testing.T) {
	tests := []struct {
		config  string
		wantErr bool
	}{
		{`{"path":"out"}`, false},
		{`{"path":"out","delimiter":";","header":false}`, false},
		{`{"path":"out","delimiter":"\t"}`, false},
		{`{"path":"out","delimiter":"::"}`, true},
		{`{"path":"out","delimiter":"\""}`, true},
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
	f, err := SinkFormat("", true)
	if err != nil {
		b.Fatal(err)
	}
	sinktest.BenchmarkWrite(b, f)
}
