package quality

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/bench/people"
	"github.com/tributary-data/tributary/connector"
)

func schemaOf(spec string) *connector.Schema {
	s := &connector.Schema{}
	for f := range strings.SplitSeq(spec, ",") {
		name, typ, _ := strings.Cut(strings.TrimSpace(f), ":")
		s.Fields = append(s.Fields, connector.Field{Name: name, Type: connector.Type(typ), Nullable: true})
	}
	return s
}

func batchOf(spec string, rows ...[]any) *connector.Batch {
	b := connector.NewBatch("s", schemaOf(spec), len(rows))
	for _, r := range rows {
		b.Append(r)
	}
	return b
}

func TestProfileColumns(t *testing.T) {
	p := NewProfiler()
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var rows [][]any
	for i := range 1000 {
		var name any = []string{"ann", "bob", "zoë", "cy"}[i%4]
		if i%10 == 0 {
			name = nil
		}
		rows = append(rows, []any{int64(i), name, connector.Decimal{Unscaled: int64(i), Scale: 2}, day.Add(time.Duration(i) * time.Hour)})
	}
	p.Observe(batchOf("id:int64, name:string, amount:decimal, at:timestamp", rows...))
	// The schema changes: a column goes, another arrives, one widens.
	p.Observe(batchOf("id:float64, name:string, extra:bool",
		[]any{1000.5, "ann", true}, []any{-1.0, nil, nil}))
	got := p.Profile()

	names := make([]string, len(got))
	for i, c := range got {
		names[i] = c.Name
	}
	if strings.Join(names, ",") != "id,name,amount,at,extra" {
		t.Fatalf("columns = %v", names)
	}
	id, name, amount, at, extra := got[0], got[1], got[2], got[3], got[4]

	tests := []struct {
		what      string
		got, want any
	}{
		{"id type", id.Type, connector.TypeFloat64},
		{"id count", id.Count, int64(1002)},
		{"id min", id.Min, -1.0},
		{"id max", id.Max, 1000.5},
		{"id mean", math.Round(*id.Mean*1000) / 1000, math.Round((999.0*1000/2+1000.5-1)/1002*1000) / 1000},
		{"name nulls", name.Nulls, int64(101)},
		{"name null ratio", name.NullRatio, 101.0 / 1002},
		{"name distinct", name.Distinct, uint64(4)},
		{"name min", name.Min, "ann"},
		{"name max", name.Max, "zoë"},
		{"name min length", *name.MinLength, 2},
		{"name max length", *name.MaxLength, 3},
		{"name top", fmt.Sprint(name.Top), "[{bob 250} {cy 250} {ann 201} {zoë 200}]"},
		{"amount min", amount.Min, connector.Decimal{Unscaled: 0, Scale: 2}},
		{"amount max", amount.Max, connector.Decimal{Unscaled: 999, Scale: 2}},
		{"amount mean", math.Round(*amount.Mean*1000) / 1000, 4.995},
		{"amount count", amount.Count, int64(1000)},
		{"at min", at.Min, day},
		{"at max", at.Max, day.Add(999 * time.Hour)},
		{"extra nulls", extra.Nulls, int64(1)},
		{"extra distinct", extra.Distinct, uint64(1)},
		{"extra has no min", extra.Min, nil},
		{"unique ids have no top", len(id.Top), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v (%T), want %v (%T)", tt.what, tt.got, tt.got, tt.want, tt.want)
		}
	}
	// The profile is part of the run record: it must encode.
	if _, err := json.Marshal(got); err != nil {
		t.Fatal(err)
	}
}

func TestProfileSketches(t *testing.T) {
	tests := []struct {
		name     string
		distinct int
		rows     int
	}{
		{"small", 50, 10_000},
		{"medium", 20_000, 100_000},
		{"large", 300_000, 300_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProfiler()
			s := schemaOf("k:int64, s:string")
			for off := 0; off < tt.rows; off += 10_000 {
				b := connector.NewBatch("s", s, 10_000)
				for i := off; i < off+10_000; i++ {
					k := int64(i % tt.distinct)
					b.Append([]any{k, fmt.Sprintf("v%d", k)})
				}
				p.Observe(b)
			}
			for _, c := range p.Profile() {
				errRatio := math.Abs(float64(c.Distinct)-float64(tt.distinct)) / float64(tt.distinct)
				t.Logf("%s: distinct %d of %d (error %.2f%%)", c.Name, c.Distinct, tt.distinct, errRatio*100)
				if errRatio > 0.05 {
					t.Errorf("%s: distinct estimate %d, want %d within 5%%", c.Name, c.Distinct, tt.distinct)
				}
			}
		})
	}

	// Heavy hitters: a few frequent values among many rare ones.
	p := NewProfiler()
	s := schemaOf("country:string")
	b := connector.NewBatch("s", s, 100_000)
	weights := map[string]int{"US": 20000, "DE": 15000, "FR": 10000, "GB": 8000, "ES": 6000, "IT": 3000}
	for c, n := range weights {
		for range n {
			b.Append([]any{c})
		}
	}
	for i := range 38_000 {
		b.Append([]any{fmt.Sprintf("rare%d", i)})
	}
	// Interleave so frequent values do not all come first.
	for i := range b.Rows {
		j := (i * 7919) % len(b.Rows)
		b.Rows[i], b.Rows[j] = b.Rows[j], b.Rows[i]
	}
	p.Observe(b)
	top := p.Profile()[0].Top
	var got []string
	for _, v := range top {
		got = append(got, v.Value.(string))
		// Past the first 65536 rows, counts come from a sample: a few
		// percent under is sampling error, more over is sketch noise.
		if n := weights[v.Value.(string)]; float64(v.Count) < float64(n)*0.95 || float64(v.Count) > float64(n)*1.2 {
			t.Errorf("%s counted %d, want about %d", v.Value, v.Count, n)
		}
	}
	if strings.Join(got, ",") != "US,DE,FR,GB,ES" {
		t.Errorf("top = %v", top)
	}
}

// BenchmarkProfile profiles 10k-row batches of the transform benchmark's
// eight columns; ns/row is what the engine pays per row. A fresh profiler
// sees 100 distinct batches, as in a run of a million rows, so unique
// columns stay unique and frequent ones frequent.
func BenchmarkProfile(b *testing.B) {
	const n, batches = 10_000, 100
	s := schemaOf("id:int64, name:string, email:string, country:string, amount:decimal, active:bool, created_at:timestamp, phone:string")
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []*connector.Batch
	for k := range batches {
		batch := connector.NewBatch("bench", s, n)
		for i := k * n; i < (k+1)*n; i++ {
			batch.Append([]any{
				int64(i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("user%d@example.com", i),
				[]string{"US", "Germany", "GB", "fra"}[i%4], connector.Decimal{Unscaled: int64(i*7 + 1), Scale: 2},
				i%5 != 0, t0.Add(time.Duration(i) * time.Minute), fmt.Sprintf("(415) 555-%04d", i%10_000),
			})
		}
		all = append(all, batch)
	}
	var p *Profiler
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%batches == 0 {
			p = NewProfiler()
		}
		p.Observe(all[i%batches])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

// BenchmarkProfilePeople profiles the rows of the CSV → PostgreSQL
// benchmark (bench/people), a million of them per profiler: the profiling
// cost of that benchmark's run, per row.
func BenchmarkProfilePeople(b *testing.B) {
	const n, batches = 10_000, 100
	var all []*connector.Batch
	for k := range batches {
		batch := connector.NewBatch("people", people.Schema, n)
		for i := k * n; i < (k+1)*n; i++ {
			row := batch.NewRow()
			people.Values(row, int64(i+1))
			batch.Append(row)
		}
		all = append(all, batch)
	}
	var p *Profiler
	i := 0
	for b.Loop() {
		if i%batches == 0 {
			p = NewProfiler()
		}
		p.Observe(all[i%batches])
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}
