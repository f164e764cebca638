package transform

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*dedup)(nil)
	_ Lineager = (*dedup)(nil)
	_ Flusher  = (*dedup)(nil)
)

func init() { Register("dedup", newDedup) }

// Dedup methods, as written in the pipeline file and in [Merge.Method].
const (
	MethodExact       = "exact"
	MethodJaroWinkler = "jaro_winkler"
	MethodLevenshtein = "levenshtein"
)

// Keep policies of the dedup step.
const (
	keepFirst        = "first"
	keepLast         = "last"
	keepMostComplete = "most_complete"
)

// defaultWindow is how many neighbours on each side, in each of the two
// sort orders, a row is compared with inside its block. Ten on each side
// found over 99% of single-typo duplicates among 200k generated names
// while keeping the cost linear in the row count.
const defaultWindow = 10

// dedup merges duplicate rows of one run: rows with equal key fields, or
// rows of the same block whose fuzzy fields are all similar enough.
// Duplicates across runs are the destination's business: an
// incremental_dedup stream merges on its primary key.
type dedup struct {
	keys      []string
	fields    []string // fuzzy fields
	method    string
	threshold float64
	blockOn   []string
	window    int
	keep      string

	stream string
	last   *connector.Schema // of the newest batch
	cache  schemaCache[*dedupPlan]

	byKey    map[string]int32 // encoded key → cluster
	blocks   map[string]*dedupBlock
	clusters []dedupCluster

	// scratch buffers, reused across rows: a step runs in one goroutine.
	enc  []byte
	lev  []int
	flag []bool
}

type dedupPlan struct {
	keys, fields, block []int
}

// dedupCluster is a set of rows found to be one entity. Its anchor values
// are those of the first row, which later rows are compared with, so a
// cluster never drifts away from what started it.
type dedupCluster struct {
	anchor []fuzzyValue // of the first row

	// origin of the survivor, for keep first, which holds no rows.
	origin string
	// The survivor so far, for keep last and most_complete.
	row      []any
	schema   *connector.Schema
	file     string
	line     int64
	complete int
	// members of the cluster in arrival order, the anchor first, for keep
	// last and most_complete, whose survivor is only known at the end.
	members  []dedupMember
	survivor int
}

type dedupMember struct {
	origin string
	method string
	score  float64
}

// dedupBlock indexes the anchors of one block in two sort orders: by the
// fuzzy values and by the same text reversed, so a typo near the start of
// a name still lands next to its twin in one of them.
type dedupBlock struct {
	fwd, rev sortedIndex
}

func newDedup(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok {
		return nil, errorf("", "expected a map with keys, fuzzy and keep")
	}
	d := &dedup{keep: keepFirst, window: defaultWindow}
	var errs Errors
	add := func(err error) {
		switch e := err.(type) {
		case *Error:
			errs = append(errs, e)
		case Errors:
			errs = append(errs, e...)
		}
	}
	for k, v := range m {
		switch k {
		case "keys":
			keys, err := stringList(v, "keys")
			if err != nil {
				add(err)
			}
			d.keys = keys
		case "fuzzy":
			add(d.parseFuzzy(v))
		case "keep":
			s, _ := v.(string)
			switch s {
			case keepFirst, keepLast, keepMostComplete:
				d.keep = s
			default:
				add(errorf("keep", "unknown policy %v (known: first, last, most_complete)", v))
			}
		default:
			add(errorf(k, "unknown setting (known: keys, fuzzy, keep)"))
		}
	}
	if len(d.keys) == 0 && len(d.fields) == 0 && len(errs) == 0 {
		add(errorf("", "needs keys, fuzzy.fields or both"))
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *Error) int { return strings.Compare(a.Path, b.Path) })
		return nil, errs
	}
	d.reset()
	return d, nil
}

func (d *dedup) parseFuzzy(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errorf("fuzzy", "expected a map with fields, method, threshold and block_on")
	}
	d.method, d.threshold = MethodJaroWinkler, 0.9
	var errs Errors
	for k, x := range m {
		p := "fuzzy." + k
		switch k {
		case "fields":
			f, err := stringList(x, p)
			if err != nil {
				errs = append(errs, err.(*Error))
			}
			d.fields = f
		case "block_on":
			f, err := stringList(x, p)
			if err != nil {
				errs = append(errs, err.(*Error))
			}
			d.blockOn = f
		case "method":
			s, _ := x.(string)
			if s != MethodJaroWinkler && s != MethodLevenshtein {
				errs = append(errs, errorf(p, "unknown method %q (known: jaro_winkler, levenshtein)", fmt.Sprint(x)))
			}
			d.method = s
		case "threshold":
			t, ok := number(x)
			if !ok || t < 0 || t > 1 {
				errs = append(errs, errorf(p, "must be between 0 and 1"))
			}
			d.threshold = t
		case "window":
			w, ok := number(x)
			if !ok || w < 1 || w != math.Trunc(w) {
				errs = append(errs, errorf(p, "must be a positive whole number"))
			}
			d.window = int(w)
		default:
			errs = append(errs, errorf(p, "unknown setting (known: fields, method, threshold, block_on, window)"))
		}
	}
	if len(d.fields) == 0 && m["fields"] == nil {
		errs = append(errs, errorf("fuzzy.fields", "is required"))
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func (d *dedup) reset() {
	d.byKey = map[string]int32{}
	d.blocks = map[string]*dedupBlock{}
	d.clusters = nil
}

func (d *dedup) Name() string { return "dedup" }

// Lineage of dedup: rows are dropped, fields pass through unchanged.
func (d *dedup) Lineage(in []string) ([]string, map[string][]string) { return in, nil }

// HoldsRows reports whether the step keeps rows back until [dedup.Flush]:
// a source checkpoint taken while rows are held does not cover them.
func (d *dedup) HoldsRows() bool { return d.keep != keepFirst }

func (d *dedup) plan(in *connector.Schema) (*dedupPlan, error) {
	p := &dedupPlan{}
	idx := func(names []string) ([]int, error) {
		out := make([]int, len(names))
		for i, n := range names {
			out[i] = in.Index(n)
			if out[i] < 0 {
				return nil, fmt.Errorf("field %q is not in the stream (fields: %v)", n, in.Names())
			}
		}
		return out, nil
	}
	var err error
	if p.keys, err = idx(d.keys); err != nil {
		return nil, err
	}
	if p.fields, err = idx(d.fields); err != nil {
		return nil, err
	}
	if p.block, err = idx(d.blockOn); err != nil {
		return nil, err
	}
	return p, nil
}

// fuzzyValue is a normalized fuzzy field with a histogram of its
// characters, which bounds any similarity from above at the cost of 32
// additions: most candidate pairs are ruled out without comparing them.
type fuzzyValue struct {
	r    []rune
	hist [32]uint8
}

func newFuzzyValue(v any) fuzzyValue {
	f := fuzzyValue{r: normalizeFuzzy(v)}
	if len(f.r) <= math.MaxUint8 {
		for _, c := range f.r {
			f.hist[c&31]++
		}
	}
	return f
}

// common bounds the characters two strings of lengths la and lb with
// histograms ha and hb share: sharing a bucket only overstates it, so the
// bound is safe.
func common(la, lb int, ha, hb *[32]uint8) int {
	if la > math.MaxUint8 || lb > math.MaxUint8 {
		return min(la, lb)
	}
	n := 0
	for i := range ha {
		n += int(min(ha[i], hb[i]))
	}
	return n
}

// rowInfo is what matching learned about a row, reused when the row
// starts a cluster of its own.
type rowInfo struct {
	key    string
	hasKey bool
	blk    *dedupBlock
	vals   []fuzzyValue
}

// Apply drops duplicates at once with keep first, and holds every row
// back otherwise.
func (d *dedup) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := d.cache.get(b.Schema, d.plan)
	if err != nil {
		return nil, Result{}, err
	}
	d.stream, d.last = b.Stream, b.Schema
	var res Result
	n := 0
	for i, row := range b.Rows {
		c, method, score, info := d.match(p, row)
		if c < 0 {
			c = d.newCluster(info)
			if d.keep == keepFirst {
				d.clusters[c].origin = b.Origin(i)
				b.Rows[n] = row
				if i < len(b.Origins) {
					b.Origins[n] = b.Origins[i]
				}
				n++
				continue
			}
			d.clusters[c].members = []dedupMember{{origin: b.Origin(i)}}
			d.hold(c, b, i)
			continue
		}
		cl := &d.clusters[c]
		if d.keep == keepFirst {
			res.Deduplicated++
			res.Merges = append(res.Merges, Merge{Stream: b.Stream, Kept: cl.origin, Dropped: b.Origin(i), Method: method, Score: score})
			continue
		}
		cl.members = append(cl.members, dedupMember{origin: b.Origin(i), method: method, score: score})
		if d.keep == keepLast || completeness(row) > cl.complete {
			d.hold(c, b, i)
		}
	}
	clear(b.Rows[n:])
	b.Rows = b.Rows[:n]
	if len(b.Origins) > n {
		b.Origins = b.Origins[:n]
	}
	return b, res, nil
}

// hold makes row i of b, the cluster's newest member, its survivor so far.
func (d *dedup) hold(c int32, b *connector.Batch, i int) {
	cl := &d.clusters[c]
	cl.survivor = len(cl.members) - 1
	cl.row = slices.Clone(b.Rows[i])
	cl.schema = b.Schema
	cl.file = b.File
	cl.line = -1
	if i < len(b.Origins) {
		cl.line = b.Origins[i]
	}
	cl.complete = completeness(cl.row)
}

func completeness(row []any) int {
	n := 0
	for _, v := range row {
		if v != nil {
			n++
		}
	}
	return n
}

// match finds the cluster row belongs to, or -1. A row whose exact key is
// new but which matches fuzzily is remembered under its key too, so a
// later row equal to it on the keys joins the same cluster.
func (d *dedup) match(p *dedupPlan, row []any) (int32, string, float64, rowInfo) {
	var info rowInfo
	if len(p.keys) > 0 {
		var ok bool
		d.enc, ok = encodeKey(d.enc[:0], row, p.keys)
		if ok {
			if c, found := d.byKey[string(d.enc)]; found {
				return c, MethodExact, 1, info
			}
			info.key, info.hasKey = string(d.enc), true
		}
	}
	if len(p.fields) == 0 || !d.fuzzyValues(p, row, &info) {
		return -1, "", 0, info
	}
	c, score := d.fuzzyMatch(info.blk, info.vals)
	if c >= 0 && info.hasKey {
		d.byKey[info.key] = c
	}
	return c, d.method, score, info
}

// fuzzyValues finds the block of row and its normalized fuzzy values; it
// is false when a block or fuzzy value is null, since null is never
// similar to anything.
func (d *dedup) fuzzyValues(p *dedupPlan, row []any, info *rowInfo) bool {
	var ok bool
	d.enc, ok = encodeKey(d.enc[:0], row, p.block)
	if !ok {
		return false
	}
	for _, f := range p.fields {
		if row[f] == nil {
			return false
		}
	}
	info.vals = make([]fuzzyValue, len(p.fields))
	for i, f := range p.fields {
		info.vals[i] = newFuzzyValue(row[f])
	}
	info.blk = d.blocks[string(d.enc)]
	if info.blk == nil {
		info.blk = &dedupBlock{}
		d.blocks[string(d.enc)] = info.blk
	}
	return true
}

// fuzzyMatch compares vals with the anchors next to it in both orders of
// its block and returns the most similar cluster whose fields all reach
// the threshold.
func (d *dedup) fuzzyMatch(blk *dedupBlock, vals []fuzzyValue) (int32, float64) {
	best, bestScore := int32(-1), -1.0
	fwd, rev := sortKeys(vals)
	v0 := &vals[0]
	try := func(e *indexEntry) {
		if d.upperBound(len(v0.r), int(e.n), &v0.hist, &e.hist) < d.threshold {
			return
		}
		c := e.id
		s := d.similarAll(d.clusters[c].anchor, vals)
		if s >= d.threshold && s > bestScore {
			best, bestScore = c, s
		}
	}
	blk.fwd.neighbours(fwd, d.window, try)
	blk.rev.neighbours(rev, d.window, try)
	return best, bestScore
}

// newCluster starts a cluster anchored on the row info describes.
func (d *dedup) newCluster(info rowInfo) int32 {
	c := int32(len(d.clusters))
	d.clusters = append(d.clusters, dedupCluster{})
	if info.hasKey {
		d.byKey[info.key] = c
	}
	if info.blk != nil {
		d.clusters[c].anchor = info.vals
		fwd, rev := sortKeys(info.vals)
		e := indexEntry{key: fwd, id: c, n: int32(len(info.vals[0].r)), hist: info.vals[0].hist}
		info.blk.fwd.insert(e)
		e.key = rev
		info.blk.rev.insert(e)
	}
	return c
}

// similarAll is the lowest similarity of the fields, or -1 as soon as one
// field is below the threshold.
func (d *dedup) similarAll(a, b []fuzzyValue) float64 {
	for i := range a {
		if d.upperBound(len(a[i].r), len(b[i].r), &a[i].hist, &b[i].hist) < d.threshold {
			return -1
		}
	}
	low := 1.0
	for i := range a {
		var s float64
		if d.method == MethodLevenshtein {
			s = d.levenshteinSim(a[i].r, b[i].r)
		} else {
			s = d.jaroWinkler(a[i].r, b[i].r)
		}
		if s < d.threshold {
			return -1
		}
		low = min(low, s)
	}
	return low
}

// upperBound is a similarity a and b cannot exceed: Jaro counts at most
// the shared characters as matches, and Levenshtein must edit every
// character of the longer string that the shorter one lacks.
func (d *dedup) upperBound(la, lb int, ha, hb *[32]uint8) float64 {
	if la == 0 || lb == 0 {
		return 1
	}
	m := float64(common(la, lb, ha, hb))
	if d.method == MethodLevenshtein {
		return m / float64(max(la, lb))
	}
	jaro := (m/float64(la) + m/float64(lb) + 1) / 3
	return jaro + 0.4*(1-jaro)
}

// Flush releases the survivors of keep last and most_complete, in the
// order their clusters were first seen, and lists what they absorbed.
func (d *dedup) Flush(context.Context) (*connector.Batch, Result, error) {
	defer d.reset()
	var res Result
	if d.keep == keepFirst || len(d.clusters) == 0 {
		return nil, res, nil
	}
	schema, err := d.unionSchema()
	if err != nil {
		return nil, res, err
	}
	out := connector.NewBatch(d.stream, schema, len(d.clusters))
	file, sameFile := d.clusters[0].file, true
	for _, cl := range d.clusters {
		sameFile = sameFile && cl.file == file && cl.line >= 0
	}
	if sameFile {
		out.File = file
	}
	for _, cl := range d.clusters {
		row, err := conformRow(cl.row, cl.schema, schema)
		if err != nil {
			return nil, res, fmt.Errorf("row %s: %w", cl.members[cl.survivor].origin, err)
		}
		out.Append(row)
		if sameFile {
			out.Origins = append(out.Origins, cl.line)
		}
		for k, m := range cl.members {
			if k == cl.survivor {
				continue
			}
			if k == 0 {
				// The anchor matched nothing; it merged into the survivor
				// the way the survivor joined it.
				m.method, m.score = cl.members[cl.survivor].method, cl.members[cl.survivor].score
			}
			res.Deduplicated++
			res.Merges = append(res.Merges, Merge{Stream: d.stream, Kept: cl.members[cl.survivor].origin, Dropped: m.origin, Method: m.method, Score: m.score})
		}
	}
	return out, res, nil
}

// unionSchema is the schema every held row fits: the newest schema, then
// fields only older batches had, each with a type wide enough for all.
func (d *dedup) unionSchema() (*connector.Schema, error) {
	seen := []*connector.Schema{d.last}
	for _, cl := range d.clusters {
		if !slices.Contains(seen, cl.schema) {
			seen = append(seen, cl.schema)
		}
	}
	if len(seen) == 1 {
		return seen[0], nil
	}
	out := seen[0].Clone()
	for _, s := range seen[1:] {
		for _, f := range s.Fields {
			j := out.Index(f.Name)
			if j < 0 {
				f.Nullable = true
				out.Fields = append(out.Fields, f)
				continue
			}
			t, ok := connector.Widen(out.Fields[j].Type, f.Type)
			if !ok {
				return nil, fmt.Errorf("field %q changed type from %s to %s while rows were held", f.Name, f.Type, out.Fields[j].Type)
			}
			out.Fields[j].Type = t
			out.Fields[j].Nullable = out.Fields[j].Nullable || f.Nullable
		}
	}
	return out, nil
}

func conformRow(row []any, from, to *connector.Schema) ([]any, error) {
	if from == to {
		return row, nil
	}
	out := make([]any, len(to.Fields))
	for i, f := range from.Fields {
		j := to.Index(f.Name)
		v := row[i]
		if v != nil && to.Fields[j].Type != f.Type {
			var err error
			if v, err = connector.Convert(to.Fields[j].Type, v); err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		out[j] = v
	}
	return out, nil
}

// encodeKey appends an unambiguous encoding of the values at idx to buf.
// Numbers of any type encode by value, so 1, 1.0 and decimal 1.00 are the
// same key. ok is false when a value is null: null keys never match.
func encodeKey(buf []byte, row []any, idx []int) ([]byte, bool) {
	for _, i := range idx {
		start := len(buf)
		buf = append(buf, 0, 0, 0, 0, 0)
		switch v := row[i].(type) {
		case nil:
			return buf, false
		case string:
			buf[start] = 's'
			buf = append(buf, v...)
		case []byte:
			buf[start] = 'y'
			buf = append(buf, v...)
		case bool:
			buf[start] = 'b'
			buf = strconv.AppendBool(buf, v)
		case int64:
			buf[start] = 'n'
			buf = strconv.AppendInt(buf, v, 10)
		case float64:
			buf[start] = 'n'
			buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
		case connector.Decimal:
			buf[start] = 'n'
			buf = appendDecimal(buf, v)
		case time.Time:
			buf[start] = 't'
			buf = v.UTC().AppendFormat(buf, time.RFC3339Nano)
		default:
			buf[start] = 'j'
			j, err := json.Marshal(v)
			if err != nil {
				buf = fmt.Append(buf, v)
			}
			buf = append(buf, j...)
		}
		binary.BigEndian.PutUint32(buf[start+1:], uint32(len(buf)-start-5))
	}
	return buf, true
}

// appendDecimal writes d without trailing fractional zeros, as
// strconv.FormatFloat writes the same number.
func appendDecimal(buf []byte, d connector.Decimal) []byte {
	for d.Scale > 0 && d.Unscaled%10 == 0 {
		d.Unscaled /= 10
		d.Scale--
	}
	return d.Append(buf)
}

// normalizeFuzzy is the text fuzzy matching compares: lower case, spaces
// trimmed and collapsed, so case and spacing never count as a difference.
func normalizeFuzzy(v any) []rune {
	s, ok := v.(string)
	if !ok {
		s = connector.FormatValue(v)
	}
	out := make([]rune, 0, len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, unicode.ToLower(r))
	}
	return out
}

// sortKeys are the keys of the two sort orders of a block.
func sortKeys(vals []fuzzyValue) (fwd, rev string) {
	var f, r strings.Builder
	for i, v := range vals {
		if i > 0 {
			f.WriteByte(0x1f)
		}
		for _, c := range v.r {
			f.WriteRune(c)
		}
	}
	for i := len(vals) - 1; i >= 0; i-- {
		if i < len(vals)-1 {
			r.WriteByte(0x1f)
		}
		for j := len(vals[i].r) - 1; j >= 0; j-- {
			r.WriteRune(vals[i].r[j])
		}
	}
	return f.String(), r.String()
}

// JaroWinkler is the Jaro-Winkler similarity of a and b in [0, 1], with
// the usual prefix scale 0.1 over at most 4 characters, applied when the
// Jaro similarity is above 0.7.
func JaroWinkler(a, b string) float64 {
	var d dedup
	return d.jaroWinkler([]rune(a), []rune(b))
}

// LevenshteinSimilarity is 1 - distance/longer length, in [0, 1]; two
// empty strings are identical.
func LevenshteinSimilarity(a, b string) float64 {
	var d dedup
	return d.levenshteinSim([]rune(a), []rune(b))
}

func (d *dedup) jaroWinkler(a, b []rune) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	// Jaro-Winkler is at most (2 + m/M)/3 boosted by the prefix; skip the
	// work when even that cannot reach the threshold.
	if d.threshold > 0 {
		upper := (2 + float64(len(a))/float64(len(b))) / 3
		upper += 0.4 * (1 - upper)
		if upper < d.threshold {
			return 0
		}
	}
	window := max(len(b)/2-1, 0)
	if cap(d.flag) < len(a)+len(b) {
		d.flag = make([]bool, len(a)+len(b))
	}
	fa, fb := d.flag[:len(a)], d.flag[len(a):len(a)+len(b)]
	clear(fa)
	clear(fb)
	matches := 0
	for i, r := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for j := lo; j < hi; j++ {
			if !fb[j] && b[j] == r {
				fa[i], fb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	trans, j := 0, 0
	for i := range a {
		if !fa[i] {
			continue
		}
		for !fb[j] {
			j++
		}
		if a[i] != b[j] {
			trans++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(a)) + m/float64(len(b)) + (m-float64(trans/2))/m) / 3
	if jaro <= 0.7 {
		return jaro
	}
	prefix := 0
	for prefix < min(4, len(a)) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

func (d *dedup) levenshteinSim(a, b []rune) float64 {
	longer := max(len(a), len(b))
	if longer == 0 {
		return 1
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	// The distance is at least the length difference.
	if d.threshold > 0 && 1-float64(len(b)-len(a))/float64(longer) < d.threshold {
		return 0
	}
	if cap(d.lev) < len(a)+1 {
		d.lev = make([]int, len(a)+1)
	}
	row := d.lev[:len(a)+1]
	for i := range row {
		row[i] = i
	}
	for j := 1; j <= len(b); j++ {
		diag := row[0]
		row[0] = j
		for i := 1; i <= len(a); i++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			next := min(row[i]+1, row[i-1]+1, diag+cost)
			diag, row[i] = row[i], next
		}
	}
	return 1 - float64(row[len(a)])/float64(longer)
}

// sortedIndex keeps keys in order in chunks of bounded size, so inserting
// costs a chunk's length rather than the whole block's, and the neighbours
// of a key are found by walking out from its position.
type sortedIndex struct {
	chunks [][]indexEntry
}

// indexEntry carries the first fuzzy field's length and histogram, so
// most neighbours are ruled out without a visit to their cluster.
type indexEntry struct {
	key  string
	id   int32
	n    int32
	hist [32]uint8
}

const chunkSize = 256

// find returns the chunk and offset where key belongs.
func (s *sortedIndex) find(key string) (int, int) {
	c, _ := slices.BinarySearchFunc(s.chunks, key, func(ch []indexEntry, k string) int {
		return strings.Compare(ch[len(ch)-1].key, k)
	})
	if c == len(s.chunks) {
		if c == 0 {
			return 0, 0
		}
		return c - 1, len(s.chunks[c-1])
	}
	o, _ := slices.BinarySearchFunc(s.chunks[c], key, func(e indexEntry, k string) int { return strings.Compare(e.key, k) })
	return c, o
}

func (s *sortedIndex) insert(e indexEntry) {
	if len(s.chunks) == 0 {
		s.chunks = [][]indexEntry{{e}}
		return
	}
	c, o := s.find(e.key)
	s.chunks[c] = slices.Insert(s.chunks[c], o, e)
	if len(s.chunks[c]) > chunkSize {
		ch := s.chunks[c]
		half := len(ch) / 2
		right := slices.Clone(ch[half:])
		s.chunks[c] = ch[:half:half]
		s.chunks = slices.Insert(s.chunks, c+1, right)
	}
}

// neighbours calls fn for up to w entries on each side of key.
func (s *sortedIndex) neighbours(key string, w int, fn func(*indexEntry)) {
	if len(s.chunks) == 0 {
		return
	}
	c, o := s.find(key)
	// Walk left from just before the insertion point.
	lc, lo := c, o-1
	for n := 0; n < w; n++ {
		for lo < 0 {
			lc--
			if lc < 0 {
				break
			}
			lo = len(s.chunks[lc]) - 1
		}
		if lc < 0 {
			break
		}
		fn(&s.chunks[lc][lo])
		lo--
	}
	rc, ro := c, o
	for n := 0; n < w; n++ {
		for rc < len(s.chunks) && ro >= len(s.chunks[rc]) {
			rc++
			ro = 0
		}
		if rc >= len(s.chunks) {
			break
		}
		fn(&s.chunks[rc][ro])
		ro++
	}
}
