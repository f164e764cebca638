package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func TestRowBytes(t *testing.T) {
	cases := []struct {
		name string
		row  []any
		want int64
	}{
		{"text and binary by length", []any{"héllo", []byte{1, 2, 3}}, 6 + 3},
		{"nulls count nothing", []any{nil, nil}, 0},
		{"fixed widths", []any{int64(1), 2.5, true, time.Now(), connector.Decimal{}}, 8 + 8 + 1 + 8 + 8},
		{"json by its encoding", []any{json.RawMessage(`{"a":1}`), map[string]any{"a": 1}, []any{1, 2}}, 7 + 7 + 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &connector.Batch{Rows: [][]any{c.row, c.row}}
			if got := rowBytes(b); got != 2*c.want {
				t.Errorf("rowBytes = %d, want %d", got, 2*c.want)
			}
		})
	}
}
