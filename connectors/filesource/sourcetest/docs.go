package sourcetest

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// pipelineKeys are the stream keys of a pipeline file that are not the
// connector's own settings.
var pipelineKeys = map[string]bool{"name": true, "sync_mode": true, "primary_key": true, "cursor_field": true, "schema": true, "transforms": true, "checks": true}

// CheckDocExamples builds the source of every YAML example in the Markdown
// file that uses the connector kind, and resolves each of its streams, so
// a documented setting that the connector refuses fails a test.
func CheckDocExamples(t *testing.T, markdown, kind string) {
	t.Helper()
	data, err := os.ReadFile(markdown)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range yamlBlock.FindAllSubmatch(data, -1) {
		var doc struct {
			Source struct {
				Connector string           `yaml:"connector"`
				Config    map[string]any   `yaml:"config"`
				Streams   []map[string]any `yaml:"streams"`
			} `yaml:"source"`
		}
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Errorf("%s: example does not parse: %v\n%s", markdown, err, m[1])
			continue
		}
		if doc.Source.Connector != kind {
			continue
		}
		raw, _ := json.Marshal(doc.Source.Config)
		src, err := connector.NewSource(context.Background(), kind, raw)
		if err != nil {
			t.Errorf("%s: example config refused: %v\n%s", markdown, err, m[1])
			continue
		}
		fs, ok := src.(*filesource.Source)
		if !ok {
			t.Fatalf("%s source is a %T, not a file source", kind, src)
		}
		for _, s := range doc.Source.Streams {
			st := connector.Stream{}
			st.Name, _ = s["name"].(string)
			for k, v := range s {
				if !pipelineKeys[k] {
					if st.Config == nil {
						st.Config = map[string]any{}
					}
					st.Config[k] = v
				}
			}
			if _, _, err := fs.Stream(st); err != nil {
				t.Errorf("%s: example stream %q refused: %v", markdown, st.Name, err)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Errorf("%s: no %s source example", markdown, kind)
	}
}
