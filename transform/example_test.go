package transform_test

import (
	"context"
	"encoding/csv"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/transform"
)

// TestTransformsExample runs the steps of examples/transforms.yaml, as
// written, over examples/data/customers.csv.
func TestTransformsExample(t *testing.T) {
	t.Setenv("MASK_SALT", "example-salt")
	raw, err := os.ReadFile("../examples/transforms.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Transforms []map[string]any `yaml:"transforms"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	var chain transform.Chain
	for i, st := range spec.Transforms {
		for name, args := range st {
			s, err := transform.Build(name, args)
			if err != nil {
				t.Fatalf("transforms[%d].%s: %v", i, name, err)
			}
			chain = append(chain, s)
		}
	}

	b := readCustomers(t)
	read := b.Len()
	ctx := context.Background()
	out, res, err := chain.Apply(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	// The dedup step keeps the most complete row, so it holds rows until
	// the stream ends.
	held, fres, err := chain.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		out.Schema = h.Schema
		out.Rows = append(out.Rows, h.Rows...)
	}
	res.Rejects = append(res.Rejects, fres.Rejects...)
	res.Filtered += fres.Filtered
	res.Deduplicated += fres.Deduplicated
	if res.Deduplicated == 0 {
		t.Error("dedup merged nothing; the example has duplicates and near-duplicates")
	}
	if got := out.Len() + len(res.Rejects) + res.Filtered + res.Deduplicated; got != read {
		t.Errorf("read %d rows but written+rejected+filtered+deduplicated = %d", read, got)
	}
	var rejects []string
	for _, r := range res.Rejects {
		rejects = append(rejects, r.Origin+" "+r.Step)
	}
	sort.Strings(rejects)
	want := []string{
		"customers.csv:13 validate", // negative amount
		"customers.csv:14 validate", // score 150
		"customers.csv:15 validate", // bad.email@@example
		"customers.csv:16 set",      // no @: split(email, "@")[1] is out of range
		"customers.csv:17 validate", // Canada is not in the enum
		"customers.csv:18 normalize",
		"customers.csv:19 normalize",
	}
	if !slices.Equal(rejects, want) {
		t.Errorf("rejects\n%q\nwant\n%q", rejects, want)
	}
	if res.Filtered != 2 {
		t.Errorf("filtered %d, want 2 inactive customers", res.Filtered)
	}
	idx := func(name string) int {
		i := out.Schema.Index(name)
		if i < 0 {
			t.Fatalf("no field %s in %v", name, out.Schema.Names())
		}
		return i
	}
	hexHash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	enum := []string{"US", "GB", "DE", "FR", "IN", "BR", "JP"}
	for _, row := range out.Rows {
		if e, _ := row[idx("email")].(string); !hexHash.MatchString(e) {
			t.Errorf("email %q is not a salted hash", e)
		}
		if p, _ := row[idx("phone")].(string); !strings.HasPrefix(p, "*") || strings.Trim(p, "*") != p[len(p)-4:] {
			t.Errorf("phone %q is not masked but for the last 4", p)
		}
		if c, _ := row[idx("country")].(string); !slices.Contains(enum, c) {
			t.Errorf("country %q", c)
		}
		if _, ok := row[idx("created_at")].(time.Time); !ok {
			t.Errorf("created_at %v is not a timestamp", row[idx("created_at")])
		}
		amount := row[idx("amount")].(connector.Decimal)
		if cents := row[idx("amount_cents")].(int64); cents != amount.Unscaled*100/int64(pow10(amount.Scale)) {
			t.Errorf("amount_cents %d for amount %s", cents, amount)
		}
	}
	if out.Schema.Index("name") >= 0 || out.Schema.Index("full_name") < 0 {
		t.Errorf("rename did not apply: %v", out.Schema.Names())
	}
}

func pow10(n int32) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// readCustomers reads the example CSV the way the csv source does with the
// example's schema overrides: empty cells are null.
func readCustomers(t *testing.T) *connector.Batch {
	f, err := os.Open("../examples/data/customers.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]connector.Type{"id": "int64", "amount": "decimal", "active": "bool", "score": "int64"}
	s := &connector.Schema{}
	for _, h := range recs[0] {
		typ := types[h]
		if typ == "" {
			typ = connector.TypeString
		}
		s.Fields = append(s.Fields, connector.Field{Name: h, Type: typ, Nullable: true})
	}
	b := connector.NewBatch("customers", s, len(recs)-1)
	b.File = "customers.csv"
	for i, rec := range recs[1:] {
		row := b.NewRow()
		for j, v := range rec {
			if v == "" {
				continue
			}
			row[j], err = connector.ParseValue(s.Fields[j].Type, v)
			if err != nil {
				t.Fatalf("line %d: %v", i+2, err)
			}
		}
		b.Append(row)
		b.Origins = append(b.Origins, int64(i+2))
	}
	return b
}
