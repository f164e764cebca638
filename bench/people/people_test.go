package people

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

// TestCSVMatchesValues checks that the CSV text of a row parses to the
// typed values the loader benchmark writes, so both loads hold the same
// data.
func TestCSVMatchesValues(t *testing.T) {
	for _, i := range []int64{1, 2, 77, 1_000_000, 4_999_999} {
		line := strings.TrimSuffix(string(AppendCSV(nil, i)), "\n")
		fields := strings.Split(line, ",")
		if len(fields) != len(Schema.Fields) {
			t.Fatalf("row %d: %d fields in %q", i, len(fields), line)
		}
		row := make([]any, len(Schema.Fields))
		Values(row, i)
		for j, f := range Schema.Fields {
			v, err := connector.ParseValue(f.Type, fields[j])
			if err != nil {
				t.Fatalf("row %d %s: %v", i, f.Name, err)
			}
			if connector.FormatValue(v) != connector.FormatValue(row[j]) {
				t.Errorf("row %d %s: csv %v, typed %v", i, f.Name, v, row[j])
			}
		}
	}
	if first, again := AppendCSV(nil, 42), AppendCSV(nil, 42); string(first) != string(again) {
		t.Error("rows are not deterministic")
	}
}

// TestJSONMatchesValues checks that the JSON Lines form of a row decodes
// to the same values as the typed row, field by field and in order.
func TestJSONMatchesValues(t *testing.T) {
	for _, i := range []int64{1, 2, 77, 1_000_000, 4_999_999} {
		line := AppendJSON(nil, i)
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("row %d: %v in %q", i, err, line)
		}
		if len(obj) != len(Schema.Fields) {
			t.Fatalf("row %d: %d keys in %q", i, len(obj), line)
		}
		row := make([]any, len(Schema.Fields))
		Values(row, i)
		for j, f := range Schema.Fields {
			text := fmt.Sprint(obj[f.Name])
			v, err := connector.ParseValue(f.Type, text)
			if err != nil {
				t.Fatalf("row %d %s: %v", i, f.Name, err)
			}
			if connector.FormatValue(v) != connector.FormatValue(row[j]) {
				t.Errorf("row %d %s: json %v, typed %v", i, f.Name, v, row[j])
			}
		}
		if !strings.HasPrefix(string(line), `{"id":`) || !strings.HasSuffix(string(line), "}\n") {
			t.Errorf("row %d: keys out of schema order or no line break: %q", i, line)
		}
	}
}
