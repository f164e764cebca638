package specfile

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name, yaml, json string
	}{
		{"order kept", "version: 1\nname: people\nsource:\n  connector: csv\n", `{"version":1,"name":"people","source":{"connector":"csv"}}`},
		{"strings that look like other types stay strings", "port: \"5432\"\nflag: \"true\"\nnothing: \"null\"\nn: 5432\n", `{"port":"5432","flag":"true","nothing":"null","n":5432}`},
		{"lists and nulls", "a:\n  - x\n  - 2.5\n  - null\nb: {}\nc: []\n", `{"a":["x",2.5,null],"b":{},"c":[]}`},
		{"placeholders kept", "password: ${PG_PASSWORD}\n", `{"password":"${PG_PASSWORD}"}`},
		{"multi-line strings", "expr: |-\n  a > 1\n  and b < 2\n", `{"expr":"a \u003e 1\nand b \u003c 2"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js, err := ToJSON([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(js, &got); err != nil {
				t.Fatal(err)
			}
			json.Unmarshal([]byte(c.json), &want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ToJSON = %s, want %s", js, c.json)
			}
			y, err := ToYAML(js)
			if err != nil {
				t.Fatal(err)
			}
			if string(y) != c.yaml {
				t.Fatalf("ToYAML =\n%s\nwant\n%s", y, c.yaml)
			}
		})
	}
}

func TestToJSONErrors(t *testing.T) {
	for _, doc := range []string{"", "a: [1, 2\n", "a:\n  b: .nan\n"} {
		if _, err := ToJSON([]byte(doc)); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
	_, err := ToJSON([]byte("a:\n  b: .nan\n"))
	if err == nil || !strings.Contains(err.Error(), "a.b (line 2)") {
		t.Errorf("error does not say where: %v", err)
	}
}

func TestChanges(t *testing.T) {
	a := `{"name":"p","source":{"streams":[{"name":"s","sync_mode":"full_refresh_overwrite"}]},"options":{"batch_size":10}}`
	b := `{"name":"p","source":{"streams":[{"name":"s","sync_mode":"incremental_append","cursor_field":"id"},{"name":"t"}]},"schedule":"@daily"}`
	got, err := Changes([]byte(a), []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Path: "options", Op: "removed", Old: map[string]any{"batch_size": 10.0}},
		{Path: "schedule", Op: "added", New: "@daily"},
		{Path: "source.streams[0].cursor_field", Op: "added", New: "id"},
		{Path: "source.streams[0].sync_mode", Op: "changed", Old: "full_refresh_overwrite", New: "incremental_append"},
		{Path: "source.streams[1]", Op: "added", New: map[string]any{"name": "t"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes = %+v\nwant %+v", got, want)
	}
	if same, _ := Changes([]byte(`{"a":1,"b":[1]}`), []byte(`{"b":[1.0],"a":1}`)); len(same) != 0 {
		t.Fatalf("equal documents differ: %+v", same)
	}
	if root, _ := Changes([]byte(`1`), []byte(`2`)); len(root) != 1 || root[0].Path != "document" {
		t.Fatalf("root change = %+v", root)
	}
}

func TestUnified(t *testing.T) {
	d, err := Unified("v1", "v2", []byte(`{"name":"p","schedule":"@daily"}`), []byte(`{"name":"p","schedule":"@hourly"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"--- v1", "+++ v2", "-schedule: '@daily'", "+schedule: '@hourly'", " name: p"} {
		if !strings.Contains(d, line+"\n") {
			t.Errorf("diff lacks %q:\n%s", line, d)
		}
	}
	if d, _ := Unified("a", "b", []byte(`{"x":1}`), []byte(`{"x":1}`)); d != "" {
		t.Errorf("equal documents: %q", d)
	}
}
