package transform

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func TestNormalizeBuildErrors(t *testing.T) {
	cases := []struct {
		settings string
		want     []string
	}{
		{`{email: [trim, lower], country: [trim, country_code], created_at: [{timestamp: ["2006-01-02 15:04:05", "02/01/2006"]}]}`, nil},
		{`{phone: [{phone: {region: US}}], name: [collapse, title, nfc], ok: [bool], d: [{date: ["2006-01-02"]}]}`, nil},
		{`{email: email}`, nil},
		{`[email]`, []string{"expected a map of field: [operations]"}},
		{`{email: [trim, lowr]}`, []string{`email[1]: unknown operation "lowr" (known: trim, collapse, lower, upper, title, nfc, email, country_code, bool, timestamp, date, phone)`}},
		{`{created_at: [{timestamp: []}]}`, []string{`created_at[0].timestamp: expected a list of Go time layouts such as ["2006-01-02 15:04:05", "02/01/2006"]`}},
		{`{created_at: [{timestamp: "2006-01-02"}]}`, nil},
		{`{p: [{phone: {region: XX}}]}`, []string{`p[0].phone.region: unknown region "XX" (expected an ISO 3166 alpha-2 code such as US)`}},
		{`{p: [{phone: {regoin: US}}]}`, []string{`p[0].phone.regoin: unknown setting (known: region)`}},
		{`{p: [{phone: US}]}`, []string{`p[0].phone: expected {region: US}`}},
		{`{a: [3], b: 4}`, []string{"a[0]: expected an operation name or a one-key map such as {timestamp: [layouts]}", "b: expected a list of operations (trim, collapse, lower, upper, title, nfc, email, country_code, bool, timestamp, date, phone)"}},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			_, err := Build("normalize", settings(t, c.settings))
			if got := buildErrors(err); !slices.Equal(got, c.want) {
				t.Errorf("errors = %q, want %q", got, c.want)
			}
		})
	}
}

// normalizeOne runs a one-field normalize over values and returns the
// results, with "REJECT: reason" for rejected values.
func normalizeOne(t *testing.T, ops string, typ connector.Type, values ...any) ([]any, connector.Type) {
	t.Helper()
	s := mustBuild(t, "normalize", "{v: "+ops+"}")
	b := connector.NewBatch("s", connector.NewSchema(connector.Field{Name: "v", Type: typ}), len(values))
	for i, v := range values {
		b.Append([]any{v})
		b.Origins = append(b.Origins, int64(i))
	}
	out, res, err := s.Apply(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]any, len(values))
	for i, r := range out.Rows {
		got[out.Origins[i]] = r[0]
	}
	for _, rj := range res.Rejects {
		var i int
		for j := range values {
			if rj.Origin == connector.Origin("", int64(j)) {
				i = j
			}
		}
		got[i] = "REJECT: " + rj.Reason
	}
	return got, out.Schema.Fields[0].Type
}

func TestNormalizeOperations(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name string
		ops  string
		in   connector.Type
		vals []any
		want []any
		out  connector.Type
	}{
		{"trim lower", "[trim, lower]", "string", []any{"  Ann@Example.COM ", nil, "x"}, []any{"ann@example.com", nil, "x"}, "string"},
		{"email", "[email]", "string", []any{"\tBOB@X.io\n"}, []any{"bob@x.io"}, "string"},
		{"collapse", "[collapse]", "string", []any{"  John \t  Smith\n", "John Smith", "a\u00a0 b"}, []any{"John Smith", "John Smith", "a b"}, "string"},
		{"title upper", "[title]", "string", []any{"jOHN o'neil smith"}, []any{"John O'neil Smith"}, "string"},
		{"upper", "[upper]", "string", []any{"ünïcode"}, []any{"ÜNÏCODE"}, "string"},
		// "é" as e + combining acute becomes the single code point U+00E9.
		{"nfc", "[nfc]", "string", []any{"Jose\u0301", "Jos\u00e9"}, []any{"Jos\u00e9", "Jos\u00e9"}, "string"},
		{"nfc of a number", "[trim]", "int64", []any{int64(42)}, []any{"42"}, "string"},
		{"invalid utf8", "[trim]", "string", []any{"a\xffb"}, []any{`REJECT: normalize: field "v": "a\xffb" is not valid UTF-8`}, "string"},
		{"timestamps in several layouts", `[{timestamp: ["2006-01-02 15:04:05", "02/01/2006", "Jan 2, 2006 3:04 PM"]}]`, "string",
			[]any{"2024-03-09 14:05:06", "09/03/2024", " Mar 9, 2024 2:05 PM", "", "2024-13-45", time.Date(2024, 1, 1, 5, 0, 0, 0, time.FixedZone("X", 3600))},
			[]any{time.Date(2024, 3, 9, 14, 5, 6, 0, time.UTC), day(2024, 3, 9), time.Date(2024, 3, 9, 14, 5, 0, 0, time.UTC), nil,
				`REJECT: normalize: field "v": "2024-13-45" matches none of the layouts ["2006-01-02 15:04:05" "02/01/2006" "Jan 2, 2006 3:04 PM"]`,
				time.Date(2024, 1, 1, 4, 0, 0, 0, time.UTC)}, "timestamp"},
		{"date", `[{date: ["2006-01-02T15:04:05Z07:00", "2006-01-02"]}]`, "string", []any{"2024-03-09T23:30:00-02:00", "2024-03-09"}, []any{day(2024, 3, 10), day(2024, 3, 9)}, "date"},
		{"phone", `[{phone: {region: US}}]`, "string",
			[]any{"(415) 555-2671", "+44 20 7946 0958", "415.555.2671", "1-415-555-2671", "n/a", "12"},
			[]any{"+14155552671", "+442079460958", "+14155552671", "+14155552671", `REJECT: normalize: field "v": "n/a" is not a phone number`, `REJECT: normalize: field "v": "12" is not a phone number`}, "string"},
		{"phone from int", `[{phone: {region: GB}}]`, "int64", []any{int64(2079460958)}, []any{"+442079460958"}, "string"},
		{"countries", "[trim, country_code]", "string",
			[]any{" US", "usa", "United States", "U.S.A.", "germany", "DEU", "de", "Deutschland", "United Kingdom", "uk", "Côte d'Ivoire", "cote d'ivoire", "JPN", "Narnia"},
			[]any{"US", "US", "US", "US", "DE", "DE", "DE", "DE", "GB", "GB", "CI", "CI", "JP", `REJECT: normalize: field "v": "Narnia" is not a known country name or ISO 3166 code`}, "string"},
		{"bool", "[bool]", "string", []any{"yes", "No", "Y", "n", "1", "0", "TRUE", "false", "maybe"},
			[]any{true, false, true, false, true, false, true, false, `REJECT: normalize: field "v": "maybe" is not a boolean (expected yes/no, y/n, true/false, 1/0)`}, "bool"},
		{"bool from int", "[bool]", "int64", []any{int64(1), int64(0), int64(2)}, []any{true, false, `REJECT: normalize: field "v": 2 is not a boolean (expected yes/no, y/n, true/false, 1/0)`}, "bool"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, typ := normalizeOne(t, c.ops, c.in, c.vals...)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %#v\nwant %#v", got, c.want)
			}
			if typ != c.out {
				t.Errorf("output type %s, want %s", typ, c.out)
			}
		})
	}
}

func TestCountryTableComplete(t *testing.T) {
	tbl := countryTable()
	codes := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(countriesTSV), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols[0]) != 2 || len(cols[1]) != 3 {
			t.Errorf("bad line %q", line)
		}
		if codes[cols[0]] {
			t.Errorf("duplicate %s", cols[0])
		}
		codes[cols[0]] = true
		for _, c := range cols {
			if got := tbl[countryKey(c)]; got != cols[0] {
				t.Errorf("%q maps to %s, want %s (another country shares the spelling)", c, got, cols[0])
			}
		}
	}
	// ISO 3166-1 has 249 officially assigned codes.
	if len(codes) != 249 {
		t.Errorf("%d countries, want 249", len(codes))
	}
}

func TestNormalizeMissingFieldFailsRun(t *testing.T) {
	s := mustBuild(t, "normalize", `{mail: [trim]}`)
	_, _, err := s.Apply(context.Background(), newTestBatch("email:string", []any{"a"}))
	if err == nil || !strings.Contains(err.Error(), `field "mail" is not in the stream`) {
		t.Errorf("error = %v", err)
	}
}

func TestNormalizeLineage(t *testing.T) {
	s := mustBuild(t, "normalize", `{email: [trim], gone: [trim]}`)
	out, from := s.(Lineager).Lineage([]string{"id", "email"})
	if !slices.Equal(out, []string{"id", "email"}) || !reflect.DeepEqual(from, map[string][]string{"email": {"email"}}) {
		t.Errorf("lineage %v %v", out, from)
	}
}

func TestNormalizeRejectKeepsRawRow(t *testing.T) {
	s := mustBuild(t, "normalize", `{a: [upper], b: [bool]}`)
	_, res, err := s.Apply(context.Background(), newTestBatch("a:string, b:string", []any{"x", "maybe"}))
	if err != nil || len(res.Rejects) != 1 {
		t.Fatal(err, res.Rejects)
	}
	if got, want := res.Rejects[0].Raw, `{"a":"x","b":"maybe"}`; got != want {
		t.Errorf("raw %s, want %s", got, want)
	}
}
