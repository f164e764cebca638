package singer

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// Streams commit one at a time, so after a crash their copies of the
// tap's state differ; the tap must get the oldest, minus the bookmarks of
// streams that have no commit.
func TestResumeState(t *testing.T) {
	inc := func(name string) connector.Stream {
		return connector.Stream{Name: name, SyncMode: connector.IncrementalAppend}
	}
	cp := func(seq int64, singer string, streams ...string) json.RawMessage {
		b, _ := json.Marshal(checkpoint{Seq: seq, Streams: streams, Singer: json.RawMessage(singer)})
		return b
	}
	for _, tc := range []struct {
		name    string
		streams []connector.Stream
		state   map[string]json.RawMessage
		want    string
		next    int64
		wantErr bool
	}{
		{name: "no state", streams: []connector.Stream{inc("a")}, want: "", next: 0},
		{
			name:    "oldest of two",
			streams: []connector.Stream{inc("a"), inc("b")},
			state: map[string]json.RawMessage{
				"a": cp(7, `{"bookmarks":{"a":{"t":"7"},"b":{"t":"7"}}}`, "a", "b"),
				"b": cp(5, `{"bookmarks":{"a":{"t":"5"},"b":{"t":"5"}}}`, "a", "b"),
			},
			want: `{"bookmarks":{"a":{"t":"5"},"b":{"t":"5"}}}`, next: 8,
		},
		{
			name:    "bookmark of a stream without commit removed",
			streams: []connector.Stream{inc("a"), inc("b")},
			state: map[string]json.RawMessage{
				"a": cp(3, `{"bookmarks":{"a":{"t":"3"},"b":{"t":"3"}},"currently_syncing":"b"}`, "a", "b"),
			},
			want: `{"bookmarks":{"a":{"t":"3"}}}`, next: 4,
		},
		{
			name:    "opaque state ahead of a stream without commit",
			streams: []connector.Stream{inc("a"), inc("b")},
			state:   map[string]json.RawMessage{"a": cp(3, `{"offset":3}`, "a", "b")},
			want:    "", next: 4,
		},
		{
			name:    "opaque state before the other stream had records",
			streams: []connector.Stream{inc("a"), inc("b")},
			state:   map[string]json.RawMessage{"a": cp(3, `{"offset":3}`, "a")},
			want:    `{"offset":3}`, next: 4,
		},
		{
			name:    "not a checkpoint",
			streams: []connector.Stream{inc("a")},
			state:   map[string]json.RawMessage{"a": json.RawMessage(`[1]`)},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := resumeState(connector.ReadRequest{Streams: tc.streams, State: tc.state})
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || next != tc.next {
				t.Fatalf("state %s next %d, want %s next %d", got, next, tc.want, tc.next)
			}
		})
	}
}

func TestFieldTypes(t *testing.T) {
	for _, tc := range []struct {
		schema   string
		required bool
		want     connector.Field
	}{
		{`{"type":"integer"}`, true, connector.Field{Type: connector.TypeInt64}},
		{`{"type":["null","integer"]}`, true, connector.Field{Type: connector.TypeInt64, Nullable: true}},
		{`{"type":"integer"}`, false, connector.Field{Type: connector.TypeInt64, Nullable: true}},
		{`{"type":"number"}`, true, connector.Field{Type: connector.TypeFloat64}},
		{`{"type":"number","multipleOf":0.01}`, true, connector.Field{Type: connector.TypeDecimal}},
		{`{"type":"string","format":"date-time"}`, true, connector.Field{Type: connector.TypeTimestamp}},
		{`{"anyOf":[{"type":"string","format":"date"},{"type":"null"}]}`, true, connector.Field{Type: connector.TypeDate, Nullable: true}},
		{`{"type":"boolean"}`, true, connector.Field{Type: connector.TypeBool}},
		{`{"type":"object","properties":{}}`, true, connector.Field{Type: connector.TypeJSON}},
		{`{"type":["string","integer"]}`, true, connector.Field{Type: connector.TypeString}},
		{`{}`, true, connector.Field{Type: connector.TypeJSON, Nullable: true}},
	} {
		var js jsonSchema
		if err := json.Unmarshal([]byte(tc.schema), &js); err != nil {
			t.Fatal(err)
		}
		f, err := fieldOf("f", &js, tc.required)
		if err != nil {
			t.Fatal(err)
		}
		tc.want.Name = "f"
		if f.Field != tc.want {
			t.Errorf("%s required=%v: %+v, want %+v", tc.schema, tc.required, f.Field, tc.want)
		}
	}
}

func TestFieldValues(t *testing.T) {
	num := func(s string) any { return json.Number(s) }
	for _, tc := range []struct {
		schema   string
		required bool
		in       any
		want     any
		err      string
	}{
		{`{"type":"integer"}`, true, num("3"), int64(3), ""},
		{`{"type":"integer"}`, true, num("3.0"), int64(3), ""},
		{`{"type":"integer"}`, true, num("3.5"), nil, `number value 3.5, but the schema declares integer`},
		{`{"type":"integer"}`, true, "3", nil, `string value "3", but the schema declares integer`},
		{`{"type":"integer"}`, true, nil, nil, `null, but the schema does not allow null`},
		{`{"type":"integer"}`, false, nil, nil, ""},
		{`{"type":"number","multipleOf":0.01}`, true, num("12.50"), connector.Decimal{Unscaled: 1250, Scale: 2}, ""},
		{`{"type":"number"}`, true, num("7"), float64(7), ""},
		{`{"type":["string","integer"]}`, true, num("12"), "12", ""},
		{`{"type":"string","format":"date-time"}`, true, "2026-01-02T03:04:05+01:00", time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC), ""},
		{`{"type":"string","format":"date-time"}`, true, "soon", nil, `not a timestamp: "soon"`},
		{`{"type":"boolean"}`, true, true, true, ""},
		{`{"type":"object"}`, true, map[string]any{"a": num("1")}, map[string]any{"a": int64(1)}, ""},
	} {
		var js jsonSchema
		if err := json.Unmarshal([]byte(tc.schema), &js); err != nil {
			t.Fatal(err)
		}
		f, err := fieldOf("f", &js, tc.required)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.value(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: err %v, want %q", tc.schema, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: %#v %v, want %#v", tc.schema, tc.in, got, err, tc.want)
		}
	}
}
