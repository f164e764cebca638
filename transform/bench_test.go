package transform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

const benchRows = 10000

var benchSpec = "id:int64, name:string, email:string, country:string, amount:decimal, active:bool, created_at:string, phone:string"

func benchBatch() *connector.Batch {
	b := connector.NewBatch("bench", schemaOf(benchSpec), benchRows)
	for i := range benchRows {
		row := b.NewRow()
		row[0] = int64(i)
		row[1] = fmt.Sprintf("  Customer %d ", i)
		row[2] = fmt.Sprintf("User%d@Example.COM", i)
		row[3] = []string{"us", "Germany", "GB", "fra"}[i%4]
		row[4] = connector.Decimal{Unscaled: int64(i*7 + 1), Scale: 2}
		row[5] = i%5 != 0
		row[6] = fmt.Sprintf("2024-01-%02d 10:%02d:00", i%28+1, i%60)
		row[7] = fmt.Sprintf("(415) 555-%04d", i%10000)
		b.Append(row)
	}
	return b
}

// copyBatch gives each iteration its own rows, since steps work in place.
func copyBatch(src, dst *connector.Batch) *connector.Batch {
	if dst == nil {
		dst = &connector.Batch{}
	}
	dst.Stream, dst.Schema = src.Stream, src.Schema
	dst.Rows = dst.Rows[:0]
	w := len(src.Schema.Fields)
	slab := make([]any, len(src.Rows)*w)
	for _, r := range src.Rows {
		copy(slab[:w], r)
		dst.Rows = append(dst.Rows, slab[:w:w])
		slab = slab[w:]
	}
	return dst
}

func benchSteps(b *testing.B, steps ...Step) {
	src := benchBatch()
	var in *connector.Batch
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		in = copyBatch(src, in)
		b.StartTimer()
		for _, s := range steps {
			out, _, err := s.Apply(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			in = out
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}

func BenchmarkSteps(b *testing.B) {
	b.Setenv("BENCH_SALT", "salt")
	b.Setenv("BENCH_KEY", "key")
	cases := []struct{ name, step, settings string }{
		{"filter", "filter", `'active == true'`},
		{"set_int", "set", `{amount_cents: 'int(amount * 100)'}`},
		{"set_split", "set", `{email_domain: 'split(email, "@")[1]'}`},
		{"normalize_email", "normalize", `{email: [trim, lower]}`},
		{"normalize_country", "normalize", `{country: [trim, country_code]}`},
		{"normalize_timestamp", "normalize", `{created_at: [{timestamp: ["2006-01-02 15:04:05", "02/01/2006"]}]}`},
		{"normalize_phone", "normalize", `{phone: [{phone: {region: US}}]}`},
		{"normalize_collapse_title_nfc", "normalize", `{name: [collapse, title, nfc]}`},
		{"map_schema", "map_schema", `{fields: {full_name: [fullname, name], mail: [email]}, defaults: {region: EU}}`},
		{"validate", "validate", `{rules: [{field: email, rule: email}, {field: amount, rule: min, value: 0}, {field: country, rule: enum, values: [us, GB, Germany, fra]}, {expr: 'amount < 1000', name: small}]}`},
		{"mask_hash", "mask", `{email: {method: hash, salt_env: BENCH_SALT}}`},
		{"mask_partial", "mask", `{phone: {method: partial, keep_last: 4}}`},
		{"mask_tokenize", "mask", `{email: {method: tokenize, key_env: BENCH_KEY}}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchSteps(b, mustBuild(b, c.step, c.settings)) })
	}
	b.Run("chain", func(b *testing.B) {
		benchSteps(b,
			mustBuild(b, "filter", `'active == true'`),
			mustBuild(b, "normalize", `{email: [trim, lower], name: [trim]}`),
			mustBuild(b, "set", `{amount_cents: 'int(amount * 100)'}`),
			mustBuild(b, "mask", `{email: {method: hash, salt_env: BENCH_SALT}}`),
		)
	})
	// The same work as "chain", written by hand: the yardstick the steps
	// are held to.
	b.Run("chain_plain_go", func(b *testing.B) {
		salt := []byte("salt")
		h := sha256.New()
		var sum, hx []byte
		benchSteps(b, stepFunc(func(in *connector.Batch) {
			kept := in.Rows[:0]
			for _, row := range in.Rows {
				if !row[5].(bool) {
					continue
				}
				row[2] = strings.ToLower(strings.TrimSpace(row[2].(string)))
				row[1] = strings.TrimSpace(row[1].(string))
				d := row[4].(connector.Decimal)
				cents := int64(d.Float64()*100 + 0.5)
				h.Reset()
				h.Write(salt)
				h.Write([]byte(row[2].(string)))
				sum = h.Sum(sum[:0])
				hx = hex.AppendEncode(hx[:0], sum)
				row[2] = string(hx)
				kept = append(kept, append(row, cents))
			}
			in.Rows = kept
		}))
	})
}

// stepFunc adapts a function to a Step for the yardstick benchmark.
type stepFunc func(*connector.Batch)

func (stepFunc) Name() string { return "func" }
func (f stepFunc) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	f(b)
	return b, Result{}, nil
}
