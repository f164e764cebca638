package people

import (
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
