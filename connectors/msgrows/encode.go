package msgrows

import (
	"encoding/json"
	"fmt"

	"github.com/tributary-data/tributary/connector"
)

// KeyIndexes are the positions of the primary key's fields in schema.
func KeyIndexes(schema *connector.Schema, pk []string) ([]int, error) {
	idx := make([]int, 0, len(pk))
	for _, k := range pk {
		i := schema.Index(k)
		if i < 0 {
			return nil, fmt.Errorf("primary key field %q is not in the stream's schema", k)
		}
		idx = append(idx, i)
	}
	return idx, nil
}

// EncodeRow writes a row as a JSON object whose keys keep the schema's
// field order (a map would sort them).
func EncodeRow(names []string, row []any) ([]byte, error) {
	out := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(n)
		out = append(append(out, k...), ':')
		v, err := json.Marshal(row[i])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", n, err)
		}
		out = append(out, v...)
	}
	return append(out, '}'), nil
}
