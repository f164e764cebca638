package transform

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
)

func TestDedupBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		args any
		want string
	}{
		{"not a map", "email", "expected a map with keys, fuzzy and keep"},
		{"empty", map[string]any{}, "needs keys, fuzzy.fields or both"},
		{"unknown method", map[string]any{"fuzzy": map[string]any{"fields": []any{"name"}, "method": "jaccard"}},
			`fuzzy.method: unknown method "jaccard" (known: jaro_winkler, levenshtein)`},
		{"threshold too high", map[string]any{"fuzzy": map[string]any{"fields": "name", "threshold": 1.5}}, "fuzzy.threshold: must be between 0 and 1"},
		{"threshold not a number", map[string]any{"fuzzy": map[string]any{"fields": "name", "threshold": "high"}}, "fuzzy.threshold: must be between 0 and 1"},
		{"no fuzzy fields", map[string]any{"fuzzy": map[string]any{"method": "levenshtein"}}, "fuzzy.fields: is required"},
		{"bad window", map[string]any{"fuzzy": map[string]any{"fields": "name", "window": 0}}, "fuzzy.window: must be a positive whole number"},
		{"unknown keep", map[string]any{"keys": "email", "keep": "best"}, "keep: unknown policy best (known: first, last, most_complete)"},
		{"unknown setting", map[string]any{"keys": "email", "on": "x"}, "on: unknown setting (known: keys, fuzzy, keep)"},
		{"bad key", map[string]any{"keys": []any{"email", 3}}, "keys[1]: expected a field name, got 3"},
		{"two problems", map[string]any{"keys": "id", "keep": "x", "fuzzy": map[string]any{"fields": "n", "threshold": -1}},
			"fuzzy.threshold: must be between 0 and 1; keep: unknown policy x (known: first, last, most_complete)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build("dedup", tt.args)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSimilarity(t *testing.T) {
	tests := []struct {
		a, b   string
		jw, lv float64
	}{
		{"MARTHA", "MARHTA", 0.9611, 1 - 2.0/6},
		{"DWAYNE", "DUANE", 0.84, 1 - 2.0/6},
		{"DIXON", "DICKSONX", 0.8133, 1 - 4.0/8},
		{"kitten", "sitting", 0.7460, 1 - 3.0/7},
		{"", "", 1, 1},
		{"abc", "", 0, 0},
		{"same", "same", 1, 1},
		{"héllo", "hello", 0.88, 0.8},
	}
	for _, tt := range tests {
		if got := JaroWinkler(tt.a, tt.b); math.Abs(got-tt.jw) > 0.001 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.jw)
		}
		if got := LevenshteinSimilarity(tt.a, tt.b); math.Abs(got-tt.lv) > 0.001 {
			t.Errorf("LevenshteinSimilarity(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.lv)
		}
	}
}

func mustDedup(t *testing.T, args map[string]any) Step {
	t.Helper()
	s, err := Build("dedup", args)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// column returns field f of every row of b.
func column(b *connector.Batch, f string) []any {
	if b == nil {
		return nil
	}
	i := b.Schema.Index(f)
	out := make([]any, len(b.Rows))
	for r, row := range b.Rows {
		out[r] = row[i]
	}
	return out
}

func mergeStrings(ms []Merge) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s<-%s %s %.2f", m.Kept, m.Dropped, m.Method, m.Score))
	}
	return out
}

func TestDedupExact(t *testing.T) {
	const spec = "id:int64, email:string, name:string, amount:decimal"
	dec := func(u int64, s int32) connector.Decimal { return connector.Decimal{Unscaled: u, Scale: s} }
	tests := []struct {
		name       string
		args       map[string]any
		batches    [][][]any
		wantIDs    []any // output of Apply, then of Flush
		wantMerges []string
	}{
		{
			name: "keep first across batches",
			args: map[string]any{"keys": []any{"email"}},
			batches: [][][]any{
				{{int64(1), "a@x", "Ann", nil}, {int64(2), "b@x", "Bob", nil}, {int64(3), "a@x", "Ann B", nil}},
				{{int64(4), "b@x", nil, nil}, {int64(5), "c@x", "Cy", nil}},
			},
			wantIDs:    []any{int64(1), int64(2), int64(5)},
			wantMerges: []string{"customers.csv:2<-customers.csv:4 exact 1.00", "customers.csv:3<-customers.csv:2 exact 1.00"},
		},
		{
			name: "null keys never match",
			args: map[string]any{"keys": []any{"email", "name"}},
			batches: [][][]any{
				{{int64(1), "a@x", nil, nil}, {int64(2), "a@x", nil, nil}, {int64(3), "a@x", "A", nil}, {int64(4), "a@x", "A", nil}},
			},
			wantIDs:    []any{int64(1), int64(2), int64(3)},
			wantMerges: []string{"customers.csv:4<-customers.csv:5 exact 1.00"},
		},
		{
			name: "numbers equal by value",
			args: map[string]any{"keys": "amount"},
			batches: [][][]any{
				{{int64(1), nil, nil, dec(100, 2)}, {int64(2), nil, nil, dec(1, 0)}, {int64(3), nil, nil, dec(11, 1)}},
			},
			wantIDs:    []any{int64(1), int64(3)},
			wantMerges: []string{"customers.csv:2<-customers.csv:3 exact 1.00"},
		},
		{
			name: "keep last",
			args: map[string]any{"keys": "email", "keep": "last"},
			batches: [][][]any{
				{{int64(1), "a@x", "Ann", nil}, {int64(2), "b@x", "Bob", nil}, {int64(3), "a@x", "Ann B", nil}},
				{{int64(4), "a@x", nil, nil}},
			},
			wantIDs: []any{int64(4), int64(2)},
			// Origins restart at line 2 in every test batch, so the
			// survivor from the second batch shares its origin with the
			// anchor it replaced.
			wantMerges: []string{
				"customers.csv:2<-customers.csv:2 exact 1.00",
				"customers.csv:2<-customers.csv:4 exact 1.00",
			},
		},
		{
			name: "keep most complete, ties to the first",
			args: map[string]any{"keys": "email", "keep": "most_complete"},
			batches: [][][]any{
				{{int64(1), "a@x", nil, nil}, {int64(2), "a@x", "Ann", nil}, {int64(3), "a@x", "Ann B", nil}},
				{{int64(4), "b@x", "Bob", nil}, {int64(5), "b@x", "Bo", nil}},
			},
			wantIDs: []any{int64(2), int64(4)},
			wantMerges: []string{
				"customers.csv:3<-customers.csv:2 exact 1.00",
				"customers.csv:3<-customers.csv:4 exact 1.00",
				"customers.csv:2<-customers.csv:3 exact 1.00",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustDedup(t, tt.args)
			ctx := context.Background()
			var ids []any
			var merges []Merge
			in, dropped := 0, 0
			for _, rows := range tt.batches {
				in += len(rows)
				out, res, err := s.Apply(ctx, newTestBatch(spec, rows...))
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Origins) != out.Len() {
					t.Fatalf("%d origins for %d rows", len(out.Origins), out.Len())
				}
				ids = append(ids, column(out, "id")...)
				merges = append(merges, res.Merges...)
				dropped += res.Deduplicated
			}
			out, res, err := s.(Flusher).Flush(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, column(out, "id")...)
			merges = append(merges, res.Merges...)
			dropped += res.Deduplicated
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tt.wantIDs)
			}
			if in != len(ids)+dropped || dropped != len(merges) {
				t.Errorf("%d in, %d out, %d deduplicated, %d merges", in, len(ids), dropped, len(merges))
			}
			got := mergeStrings(merges)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.wantMerges))
			if !slices.Equal(got, want) {
				t.Errorf("merges = %q, want %q", got, want)
			}
		})
	}
}

func TestDedupFuzzy(t *testing.T) {
	const spec = "id:int64, name:string, country:string"
	rows := [][]any{
		{int64(1), "Jonathan Smith", "US"},
		{int64(2), "jonathan  smyth", "US"}, // near twin of 1
		{int64(3), "Jonathan Smith", "GB"},  // other block
		{int64(4), "Maria Garcia", "US"},
		{int64(5), "Mario Garcia", "US"}, // similar, under a strict threshold
		{int64(6), nil, "US"},            // null never similar
		{int64(7), nil, "US"},
		{int64(8), "Xonathan Smith", "US"}, // typo in the first letter
		{int64(9), "Jonathan Smith", nil},  // null block
	}
	tests := []struct {
		name    string
		fuzzy   map[string]any
		wantIDs []any
		method  string
	}{
		// JW: smyth 0.971, Xonathan 0.952, Mario 0.912.
		{"jaro winkler", map[string]any{"fields": []any{"name"}, "threshold": 0.93, "block_on": []any{"country"}},
			[]any{int64(1), int64(3), int64(4), int64(5), int64(6), int64(7), int64(9)}, MethodJaroWinkler},
		{"jaro winkler loose merges mario", map[string]any{"fields": []any{"name"}, "threshold": 0.9, "block_on": "country"},
			[]any{int64(1), int64(3), int64(4), int64(6), int64(7), int64(9)}, MethodJaroWinkler},
		// Levenshtein: smyth and Xonathan 0.929, Mario 0.917.
		{"levenshtein", map[string]any{"fields": "name", "method": "levenshtein", "threshold": 0.9, "block_on": "country"},
			[]any{int64(1), int64(3), int64(4), int64(6), int64(7), int64(9)}, MethodLevenshtein},
		{"levenshtein strict", map[string]any{"fields": "name", "method": "levenshtein", "threshold": 0.95, "block_on": "country"},
			[]any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(6), int64(7), int64(8), int64(9)}, MethodLevenshtein},
		{"no blocking", map[string]any{"fields": "name", "threshold": 0.93},
			[]any{int64(1), int64(4), int64(5), int64(6), int64(7)}, MethodJaroWinkler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustDedup(t, map[string]any{"fuzzy": tt.fuzzy})
			out, res, err := s.Apply(context.Background(), newTestBatch(spec, rows...))
			if err != nil {
				t.Fatal(err)
			}
			if got := column(out, "id"); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v (merges %q)", got, tt.wantIDs, mergeStrings(res.Merges))
			}
			if res.Deduplicated != len(rows)-out.Len() || len(res.Merges) != res.Deduplicated {
				t.Errorf("deduplicated %d, merges %d, for %d dropped", res.Deduplicated, len(res.Merges), len(rows)-out.Len())
			}
			for _, m := range res.Merges {
				if m.Method != tt.method || m.Score < 0.9 || m.Score > 1 {
					t.Errorf("merge %+v: want method %s and a score in [0.9, 1]", m, tt.method)
				}
			}
		})
	}
}

func TestDedupKeysAndFuzzy(t *testing.T) {
	// A row joins a cluster by key or by similarity; a row matched fuzzily
	// brings its key along, so a later row with that key joins too.
	s := mustDedup(t, map[string]any{"keys": "email", "fuzzy": map[string]any{"fields": "name"}, "keep": "most_complete"})
	b := newTestBatch("id:int64, email:string, name:string, phone:string",
		[]any{int64(1), "ann@x", "Ann Lee", nil},
		[]any{int64(2), "ann.lee@x", "Ann  LEE", nil},
		[]any{int64(3), "ann.lee@x", "A. Lee", "555"},
		[]any{int64(4), "bob@x", "Bob Ray", nil},
	)
	out, res, err := s.Apply(context.Background(), b)
	if err != nil || out.Len() != 0 || res.Deduplicated != 0 {
		t.Fatalf("apply held back %d rows, deduplicated %d, err %v; want all held", out.Len(), res.Deduplicated, err)
	}
	f, res, err := s.(Flusher).Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := column(f, "id"); !slices.Equal(got, []any{int64(3), int64(4)}) {
		t.Errorf("ids = %v, want [3 4]", got)
	}
	if f.Stream != "customers" || f.Origin(0) != "customers.csv:4" {
		t.Errorf("flushed batch stream %q origin %q", f.Stream, f.Origin(0))
	}
	got := mergeStrings(res.Merges)
	want := []string{"customers.csv:4<-customers.csv:2 exact 1.00", "customers.csv:4<-customers.csv:3 jaro_winkler 1.00"}
	if !slices.Equal(got, want) {
		t.Errorf("merges = %q, want %q", got, want)
	}
	// Flush ends the stream: a second one has nothing left.
	if f, _, _ := s.(Flusher).Flush(context.Background()); f != nil && f.Len() > 0 {
		t.Errorf("second flush returned %d rows", f.Len())
	}
}

func TestDedupHeldRowsSchemaChange(t *testing.T) {
	s := mustDedup(t, map[string]any{"keys": "id", "keep": "last"})
	ctx := context.Background()
	b1 := newTestBatch("id:int64, amount:int64, old:string", []any{int64(1), int64(5), "x"}, []any{int64(2), int64(6), "y"})
	b2 := newTestBatch("id:int64, amount:float64, extra:bool", []any{int64(1), 7.5, true})
	b2.File = "more.csv"
	for _, b := range []*connector.Batch{b1, b2} {
		if _, _, err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	out, res, err := s.(Flusher).Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.Schema.Names(), ","); got != "id,amount,extra,old" {
		t.Errorf("schema = %s", got)
	}
	if out.Schema.Fields[1].Type != connector.TypeFloat64 {
		t.Errorf("amount type = %s, want float64", out.Schema.Fields[1].Type)
	}
	want := [][]any{{int64(1), 7.5, true, nil}, {int64(2), 6.0, nil, "y"}}
	for i, row := range out.Rows {
		if !slices.Equal(row, want[i]) {
			t.Errorf("row %d = %v, want %v", i, row, want[i])
		}
	}
	// Rows from two files cannot share one batch's File.
	if out.File != "" || res.Deduplicated != 1 || res.Merges[0].Kept != "more.csv:2" {
		t.Errorf("file %q, deduplicated %d, merges %+v", out.File, res.Deduplicated, res.Merges)
	}
}

func TestDedupMissingField(t *testing.T) {
	s := mustDedup(t, map[string]any{"keys": "nope"})
	_, _, err := s.Apply(context.Background(), newTestBatch("id:int64", []any{int64(1)}))
	if err == nil || !strings.Contains(err.Error(), `field "nope" is not in the stream`) {
		t.Fatalf("error = %v", err)
	}
}

func TestDedupLineage(t *testing.T) {
	s := mustDedup(t, map[string]any{"keys": "id"})
	out, from := s.(Lineager).Lineage([]string{"id", "name"})
	if !slices.Equal(out, []string{"id", "name"}) || len(from) != 0 {
		t.Errorf("lineage = %v %v", out, from)
	}
}

// TestFuzzyDedupScale dedups 200k generated people of whom 5% are copies
// of another with one typo, and measures the result against the known
// duplicates.
func TestFuzzyDedupScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test skipped in -short mode")
	}
	const total, batchSize = 200_000, 10_000
	rng := rand.New(rand.NewPCG(7, 42))
	const letters = "abcdefghijklmnopqrstuvwxyz"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	typo := func(s string) string {
		r := []byte(s)
		i := rng.IntN(len(r))
		switch rng.IntN(4) {
		case 0: // substitution
			r[i] = letters[rng.IntN(len(letters))]
		case 1: // insertion
			r = slices.Insert(r, i, letters[rng.IntN(len(letters))])
		case 2: // deletion
			r = slices.Delete(r, i, i+1)
		default: // transposition
			if i == len(r)-1 {
				i--
			}
			r[i], r[i+1] = r[i+1], r[i]
		}
		return string(r)
	}
	countries := []string{"US", "DE", "FR", "GB", "ES", "IT", "NL", "SE", "PL", "BR"}
	type person struct{ name, country string }
	var people []person
	dupOf := map[int]int{} // row → the row it copies
	for len(people) < total {
		if len(people) > 100 && rng.Float64() < 0.05 {
			src := rng.IntN(len(people))
			if _, isDup := dupOf[src]; isDup {
				continue
			}
			dupOf[len(people)] = src
			people = append(people, person{typo(people[src].name), people[src].country})
			continue
		}
		name := strings.ToUpper(word(1)) + word(4+rng.IntN(5)) + " " + strings.ToUpper(word(1)) + word(5+rng.IntN(6))
		people = append(people, person{name, countries[rng.IntN(len(countries))]})
	}

	s := mustDedup(t, map[string]any{"fuzzy": map[string]any{"fields": "full_name", "threshold": 0.93, "block_on": "country"}})
	schema := schemaOf("id:int64, full_name:string, country:string")
	ctx := context.Background()
	start := time.Now()
	var merges []Merge
	kept := 0
	for off := 0; off < total; off += batchSize {
		b := connector.NewBatch("people", schema, batchSize)
		for i := off; i < off+batchSize; i++ {
			b.Append([]any{int64(i), people[i].name, people[i].country})
			b.Origins = append(b.Origins, int64(i))
		}
		out, res, err := s.Apply(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		kept += out.Len()
		merges = append(merges, res.Merges...)
	}
	elapsed := time.Since(start)

	truePos := 0
	for _, m := range merges {
		var dropped, keptRow int
		fmt.Sscanf(strings.TrimPrefix(m.Dropped, "#"), "%d", &dropped)
		fmt.Sscanf(strings.TrimPrefix(m.Kept, "#"), "%d", &keptRow)
		if src, ok := dupOf[dropped]; ok && src == keptRow {
			truePos++
		}
	}
	precision := float64(truePos) / float64(len(merges))
	recall := float64(truePos) / float64(len(dupOf))
	t.Logf("%d rows, %d known duplicates, %d merged, %d kept in %v (%.0f ns/row): precision %.4f, recall %.4f",
		total, len(dupOf), len(merges), kept, elapsed.Round(time.Millisecond), float64(elapsed.Nanoseconds())/total, precision, recall)
	if precision < 0.9 || recall < 0.9 {
		t.Errorf("precision %.3f and recall %.3f, want both at least 0.9", precision, recall)
	}
	if kept+len(merges) != total {
		t.Errorf("%d kept + %d merged != %d rows", kept, len(merges), total)
	}
	limit := 30 * time.Second
	if raceEnabled {
		limit *= 5
	}
	if elapsed > limit {
		t.Errorf("took %v, want under %v", elapsed, limit)
	}
}
