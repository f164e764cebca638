package msgrows

import (
	"testing"

	"github.com/tributary-data/tributary/connector"
)

func TestEncodeRowAndKeys(t *testing.T) {
	s := connector.NewSchema(
		connector.Field{Name: "z", Type: connector.TypeString},
		connector.Field{Name: "a \"q\"", Type: connector.TypeInt64, Nullable: true},
	)
	cases := []struct {
		row  []any
		want string
	}{
		{[]any{"x", int64(1)}, `{"z":"x","a \"q\"":1}`},
		{[]any{"", nil}, `{"z":"","a \"q\"":null}`},
	}
	for _, c := range cases {
		got, err := EncodeRow(s.Names(), c.row)
		if err != nil || string(got) != c.want {
			t.Errorf("EncodeRow(%v) = %s, %v; want %s", c.row, got, err, c.want)
		}
	}
	if idx, err := KeyIndexes(s, []string{"a \"q\"", "z"}); err != nil || len(idx) != 2 || idx[0] != 1 || idx[1] != 0 {
		t.Errorf("KeyIndexes = %v, %v", idx, err)
	}
	if _, err := KeyIndexes(s, []string{"id"}); err == nil {
		t.Error("a key field missing from the schema was accepted")
	}
}
