package jsonl

import (
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
)

var scanSchema = connector.NewSchema(
	connector.Field{Name: "id", Type: connector.TypeInt64, Nullable: true},
	connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
	connector.Field{Name: "amount", Type: connector.TypeDecimal, Nullable: true},
	connector.Field{Name: "at", Type: connector.TypeTimestamp, Nullable: true},
	connector.Field{Name: "ok", Type: connector.TypeBool, Nullable: true},
	connector.Field{Name: "score", Type: connector.TypeFloat64, Nullable: true},
	connector.Field{Name: "meta", Type: connector.TypeJSON, Nullable: true},
	connector.Field{Name: "day", Type: connector.TypeDate, Nullable: true},
)

func allocRow(s *connector.Schema) []any { return make([]any, len(s.Fields)) }

// slowRow is what the general path makes of line: the row, or the reason
// it is rejected, and whether it changed the schema.
func slowRow(line []byte) (row []any, reason string, grew bool) {
	o := filesource.NewObjects(scanSchema, nil, false)
	kv, err := o.DecodeRecord(line, nil)
	if err != nil {
		return nil, err.Error(), false
	}
	row, reason = o.Row(kv, allocRow)
	return row, reason, o.Schema() != scanSchema
}

// TestFastDecoderAgreesWithGeneralPath checks the fast path takes the
// common records and declines everything whose outcome the general path
// must decide (new fields, widening, invalid JSON), and that what it takes
// becomes exactly the row the general path would make.
func TestFastDecoderAgreesWithGeneralPath(t *testing.T) {
	tests := []struct {
		line string
		fast bool // the fast path should take it
	}{
		{`{"id":1,"name":"a","amount":1.50,"at":"2024-01-02T03:04:05Z","ok":true,"score":2.5,"meta":{"k":[1.5,"x",null]},"day":"2024-01-02"}`, true},
		{`{"name":"a\"b\u00e9\n","id":-7}`, true},
		{` { "id" : 1 , "name" : "x" } `, true},
		{`{"id":1,"id":2}`, true},
		{`{"id":1,"id":null}`, true},
		{`{"id":1,"unknown":null}`, true},
		{`{}`, true},
		{`{"name":1.25e3,"ok":false}`, true},
		{`{"name":true}`, true},
		{`{"meta":"text"}`, true},
		{`{"meta":3}`, true},
		{`{"meta":12345678901234567890}`, true},
		{`{"meta":[]}`, true},
		{`{"score":1}`, true},
		{`{"amount":"1.5"}`, true},
		{`{"amount":-0.001}`, true},
		{`{"id":"7"}`, true},
		{`{"at":"2024-01-02 03:04:05"}`, true},
		{`{"name":"é ü 日本"}`, true},
		{`{"id":1,"unknown":1}`, false},
		{`{"id":1.5}`, false},
		{`{"id":1e5}`, false},
		{`{"id":99999999999999999999}`, false},
		{`{"id":01}`, false},
		{`{"id":1.}`, false},
		{`{"id":-}`, false},
		{`{"id":+1}`, false},
		{`{"id":.5}`, false},
		{`{"id":1,}`, false},
		{`{"id":1} x`, false},
		{`{"id":1`, false},
		{`{"id" 1}`, false},
		{`[1]`, false},
		{`null`, false},
		{`"text"`, false},
		{"{\"name\":\"a\x01b\"}", false},
		{`{"ok":tru}`, false},
		{`{"ok":truex}`, false},
		{`{"ok":1}`, false},
		{`{"name":"\x"}`, false},
		{`{"name":"\u12"}`, false},
		{`{"na\u006de":"x"}`, false},
		{`{"at":"not a time"}`, false},
		{`{"at":5}`, false},
		{`{"name":{"a":1}}`, false},
		{`{"meta":{"a":1]}`, false},
		{`{"meta":{"a":}}`, false},
		{`{"day":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var d fastDecoder
			row, ok := d.decode([]byte(tt.line), scanSchema, allocRow)
			if ok != tt.fast {
				t.Fatalf("fast path took it: %v, want %v (row %v)", ok, tt.fast, row)
			}
			if ok {
				checkSame(t, []byte(tt.line), row)
			}
		})
	}
}

func checkSame(t *testing.T, line []byte, fast []any) {
	t.Helper()
	slow, reason, grew := slowRow(line)
	if reason != "" || grew {
		t.Fatalf("fast path took a record the general path rejects (%q) or grows the schema for (%v)", reason, grew)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast row %#v, general path %#v", fast, slow)
	}
}

// TestFastDecoderReusesKeyOrder reads records whose key order changes
// from one to the next, which the key-order hint must survive.
func TestFastDecoderReusesKeyOrder(t *testing.T) {
	var d fastDecoder
	for _, line := range []string{
		`{"id":1,"name":"a","ok":true}`,
		`{"name":"b","id":2}`,
		`{"ok":false,"id":3,"name":"c","score":1.5}`,
		`{"id":4,"name":"d","ok":true}`,
	} {
		row, ok := d.decode([]byte(line), scanSchema, allocRow)
		if !ok {
			t.Fatalf("%s: declined", line)
		}
		checkSame(t, []byte(line), row)
	}
}

// FuzzFastDecoder holds the fast path to the general path on any input:
// whatever it takes must come out as the general path makes it.
func FuzzFastDecoder(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"name":"a","amount":1.50,"at":"2024-01-02T03:04:05Z","ok":true,"score":2.5,"meta":{"k":[1]}}`,
		`{"name":"a\"b\u00e9","id":-7,"id":null}`,
		`{"meta":12345678901234567890,"score":1e-7,"amount":"3"}`,
		`{"id":1,"x":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if !utf8.Valid(line) {
			return
		}
		var d fastDecoder
		if row, ok := d.decode(line, scanSchema, allocRow); ok {
			checkSame(t, line, row)
		}
	})
}
