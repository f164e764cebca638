package msgrows

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

type collect struct {
	batches []*connector.Batch
	rejects []connector.Reject
}

func (c *collect) Emit(_ context.Context, b *connector.Batch) error {
	c.batches = append(c.batches, b)
	return nil
}

func (c *collect) Reject(_ context.Context, r connector.Reject) error {
	c.rejects = append(c.rejects, r)
	return nil
}

func schemaString(s *connector.Schema) string {
	var parts []string
	for _, f := range s.Fields {
		parts = append(parts, f.Name+":"+string(f.Type))
	}
	return strings.Join(parts, ",")
}

// A field seen for the first time or a value wider than its column starts
// a batch of the new schema; rows keep their values; a value that is not
// an object is rejected with its origin.
func TestBuilderGrowsSchemaAcrossBatches(t *testing.T) {
	meta := []connector.Field{{Name: "_seq", Type: connector.TypeInt64}}
	b := NewBuilder("s", FormatJSON, 3, meta, nil)
	var c collect
	ctx := context.Background()
	for i, v := range []string{`{"a":1}`, `{"a":2,"b":"x"}`, `{"a":1.5}`, `nope`, `{"a":3}`, `{"b":"y","a":4}`} {
		if err := b.Add(ctx, &c, []byte(v), []any{int64(i)}, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(ctx, &c); err != nil {
		t.Fatal(err)
	}
	type got struct {
		schema string
		rows   [][]any
	}
	var all []got
	for _, bt := range c.batches {
		all = append(all, got{schemaString(bt.Schema), bt.Rows})
	}
	want := []got{
		{"_seq:int64,a:int64", [][]any{{int64(0), int64(1)}}},
		{"_seq:int64,a:int64,b:string", [][]any{{int64(1), int64(2), "x"}}},
		{"_seq:int64,a:float64,b:string", [][]any{{int64(2), 1.5, nil}, {int64(4), 3.0, nil}, {int64(5), 4.0, "y"}}},
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("batches:\n%v\nwant:\n%v", all, want)
	}
	if len(c.rejects) != 1 || c.rejects[0].Origin != "m3" || c.rejects[0].Raw != "nope" || !strings.Contains(c.rejects[0].Reason, "invalid JSON") {
		t.Errorf("rejects = %+v", c.rejects)
	}
}

func TestCheckFormat(t *testing.T) {
	for in, want := range map[string]string{"": FormatJSON, "json": FormatJSON, "string": FormatString, "bytes": FormatBytes} {
		if got, err := CheckFormat(in); err != nil || got != want {
			t.Errorf("CheckFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := CheckFormat("avro"); err == nil {
		t.Error("avro accepted")
	}
}
