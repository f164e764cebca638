package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
)

// state is a stream's checkpoint. Between two syncs only Cursor is set;
// during one, Next (and Parents, for a child stream) say where the sync
// goes on, so a crash resumes at the page after the last committed one.
type state struct {
	// Cursor is the lower bound of the sync: the highest cursor value the
	// previous sync saw.
	Cursor string `json:"cursor,omitempty"`
	// Max is the highest cursor value seen so far in this sync.
	Max string `json:"max,omitempty"`
	// Next is the request of the next page.
	Next *Request `json:"next,omitempty"`
	// Parents counts the parent records whose children are all read.
	Parents int `json:"parents_done,omitempty"`
	// Custom is the position of a vendor's own reader.
	Custom json.RawMessage `json:"custom,omitempty"`
	// Done says the last page is read: a full refresh resumed from here
	// has nothing left, an incremental sync starts the next sync.
	Done bool `json:"done,omitempty"`
}

var errSampled = errors.New("sampled enough records")

// sampler collects raw records for schema inference.
type sampler struct {
	limit   int
	records [][]filesource.KV
	text    bool
}

// Pages turns the records of a stream's pages into batches and
// checkpoints. A vendor's own reader ([StreamHooks.Read]) hands its
// records to it.
type Pages struct {
	stream    connector.Stream
	emit      connector.Emitter
	batchSize int
	limit     int
	text      bool
	sample    *sampler
	reshape   func([]filesource.KV) []filesource.KV

	objects   *filesource.Objects
	b         *connector.Batch
	pos       state
	cursorCol string // incremental cursor field, "" when not incremental
	low       string
	rows      int
	pages     int
	seq       int64
	extra     []filesource.KV
	// ctx and err carry the emit of a batch cut short by a schema change
	// out of alloc.
	ctx context.Context
	err error
}

// Cursor is the cursor value the sync starts from: the saved one, else the
// configured start, "" on a first run or a full refresh.
func (p *Pages) Cursor() string { return p.low }

// Resume is the position a vendor reader saved with its last committed
// page, nil when the sync starts afresh.
func (p *Pages) Resume() json.RawMessage { return p.pos.Custom }

// ordered says the next page is decoded keeping key order: until the
// stream's schema is inferred, whose field order is the API's.
func (p *Pages) ordered() bool { return p.objects == nil }

// Full reports whether the read reached its row limit (a preview).
func (p *Pages) Full() bool { return p.limit > 0 && p.rows >= p.limit }

// Add hands over one page of records of a vendor reader; resume is where
// its reading continues after them and is saved with the page, nil after
// the last page.
func (p *Pages) Add(ctx context.Context, records [][]filesource.KV, origin string, resume json.RawMessage) error {
	recs := make([]any, len(records))
	for i, r := range records {
		recs[i] = r
	}
	return p.page(ctx, recs, origin, func(s *state) { s.Custom, s.Done = resume, resume == nil })
}

// page converts the records of one page, then moves the position on.
func (p *Pages) page(ctx context.Context, recs []any, origin string, move func(*state)) error {
	if p.sample != nil {
		for _, r := range recs {
			if kv, ok := p.recordKVs(r); ok {
				p.sample.records = append(p.sample.records, p.withExtra(kv))
			}
			if len(p.sample.records) >= p.sample.limit {
				return errSampled
			}
		}
		p.sample.text = p.text
		return errSampled
	}
	if p.objects == nil {
		var sample [][]filesource.KV
		for _, r := range recs {
			if kv, ok := p.recordKVs(r); ok {
				sample = append(sample, p.withExtra(kv))
			}
		}
		if len(sample) > 0 {
			p.objects = filesource.NewObjects(filesource.InferObjects(sample, p.stream.Schema, p.text), p.stream.Schema, p.text)
		}
	}
	for i, r := range recs {
		if p.Full() {
			break
		}
		where := fmt.Sprintf("%s, record %d", origin, i+1)
		kv, ok := p.recordKVs(r)
		if !ok {
			raw, _ := json.Marshal(plain(r))
			if err := p.reject(ctx, where, string(raw), fmt.Sprintf("record is a %s, not an object", jsonKind(r))); err != nil {
				return err
			}
			continue
		}
		kv = p.withExtra(kv)
		if p.cursorCol != "" {
			c, ok := cursorText(kv, p.cursorCol)
			if ok && p.low != "" && cmpCursor(c, p.low) < 0 {
				continue // older than the saved cursor: synced before
			}
			if ok && (p.pos.Max == "" || cmpCursor(c, p.pos.Max) > 0) {
				p.pos.Max = c
			}
		}
		p.ctx = ctx
		row, reason := p.objects.Row(kv, p.alloc)
		if p.err != nil {
			return p.err
		}
		if reason != "" {
			raw, _ := json.Marshal(plain(kvObject(kv)))
			if err := p.reject(ctx, where, string(raw), reason); err != nil {
				return err
			}
			continue
		}
		p.seq++
		p.b.Append(row)
		p.b.Origins = append(p.b.Origins, p.seq)
		p.rows++
	}
	move(&p.pos)
	p.pages++
	// Every page ends with a checkpoint: the engine decides how many it
	// commits, and a crash resumes at the page after the last commit.
	return p.flush(ctx, true)
}

func (p *Pages) withExtra(kv []filesource.KV) []filesource.KV {
	if len(p.extra) == 0 {
		return kv
	}
	out := append([]filesource.KV(nil), kv...)
	for _, e := range p.extra {
		found := false
		for i := range out {
			if out[i].Key == e.Key {
				out[i].Value, found = e.Value, true
			}
		}
		if !found {
			out = append(out, e)
		}
	}
	return out
}

// alloc gives the next row, starting a new batch when the schema changed.
func (p *Pages) alloc(s *connector.Schema) []any {
	if p.b != nil && p.b.Schema != s {
		// Rows of the old schema go out now; the checkpoint waits for the
		// end of the page.
		if err := p.emitBatch(p.ctx); err != nil && p.err == nil {
			p.err = fmt.Errorf("emit: %w", err)
		}
	}
	if p.b != nil && p.b.Len() >= p.batchSize {
		if err := p.emitBatch(p.ctx); err != nil && p.err == nil {
			p.err = fmt.Errorf("emit: %w", err)
		}
	}
	if p.b == nil {
		p.b = connector.NewBatch(p.stream.Name, s, p.batchSize)
		p.b.File = p.stream.Name
	}
	return p.b.NewRow()
}

func (p *Pages) emitBatch(ctx context.Context) error {
	b := p.b
	p.b = nil
	if b == nil {
		return nil
	}
	if b.Len() == 0 {
		b.Release()
		return nil
	}
	return p.emit.Emit(ctx, b)
}

// flush emits the open batch and, when resumable, checkpoints the
// position.
func (p *Pages) flush(ctx context.Context, checkpoint bool) error {
	if err := p.emitBatch(ctx); err != nil {
		return fmt.Errorf("emit: %w", err)
	}
	if !checkpoint {
		return nil
	}
	b, err := json.Marshal(p.pos)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := p.emit.Checkpoint(ctx, p.stream.Name, b); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// finish ends the sync: what is left goes out, and the state keeps only
// the new cursor.
func (p *Pages) finish(ctx context.Context) error {
	if p.sample != nil {
		return nil
	}
	end := state{Cursor: maxCursor(p.pos.Cursor, p.pos.Max), Done: p.cursorCol == ""}
	if p.Full() {
		// A preview stops early: its state must not claim the rest read.
		end = p.pos
	}
	p.pos = end
	return p.flush(ctx, true)
}

func maxCursor(a, b string) string {
	if a == "" || (b != "" && cmpCursor(b, a) > 0) {
		return b
	}
	return a
}

func (p *Pages) reject(ctx context.Context, origin, raw, reason string) error {
	return p.emit.Reject(ctx, connector.Reject{Stream: p.stream.Name, Origin: origin, Raw: raw, Reason: reason, Step: "read", At: time.Now().UTC()})
}

func (p *Pages) recordKVs(r any) ([]filesource.KV, bool) {
	var kv []filesource.KV
	switch x := r.(type) {
	case *object:
		kv = x.kvs()
	case map[string]any:
		kv = p.mapKVs(x)
	case []filesource.KV:
		kv = x
	default:
		return nil, false
	}
	if p.reshape != nil {
		kv = p.reshape(kv)
	}
	return kv, true
}

// mapKVs orders the fields of an unordered record: known fields in schema
// order, fields new to the stream after them by name.
func (p *Pages) mapKVs(m map[string]any) []filesource.KV {
	kv := make([]filesource.KV, 0, len(m))
	if p.objects != nil {
		for _, f := range p.objects.Schema().Fields {
			if v, ok := m[f.Name]; ok {
				kv = append(kv, filesource.KV{Key: f.Name, Value: v})
			}
		}
	}
	if len(kv) == len(m) {
		return kv
	}
	known := len(kv)
	for k, v := range m {
		if !slices.ContainsFunc(kv[:known], func(e filesource.KV) bool { return e.Key == k }) {
			kv = append(kv, filesource.KV{Key: k, Value: v})
		}
	}
	slices.SortFunc(kv[known:], func(a, b filesource.KV) int { return strings.Compare(a.Key, b.Key) })
	return kv
}

func kvObject(kv []filesource.KV) *object {
	o := &object{vals: map[string]any{}}
	for _, e := range kv {
		o.SetValueForKey(e.Key, e.Value)
	}
	return o
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any, *object:
		return "object"
	}
	return "value"
}

// cursorText is the record's cursor value as text, as received.
func cursorText(kv []filesource.KV, field string) (string, bool) {
	for _, e := range kv {
		if e.Key != field {
			continue
		}
		switch v := e.Value.(type) {
		case nil:
			return "", false
		case string:
			return v, v != ""
		case json.Number:
			return string(v), true
		default:
			return connector.FormatValue(v), true
		}
	}
	return "", false
}

// cmpCursor compares cursor values as timestamps when both are, as
// numbers when both are, else as text.
func cmpCursor(a, b string) int {
	if ta, err := connector.ParseTimestamp(a); err == nil {
		if tb, err := connector.ParseTimestamp(b); err == nil {
			return ta.Compare(tb)
		}
	}
	if na, ok := new(big.Rat).SetString(a); ok {
		if nb, ok := new(big.Rat).SetString(b); ok {
			return na.Cmp(nb)
		}
	}
	return strings.Compare(a, b)
}

// readStream reads one stream, or samples its first records when smp is
// set.
func (s *Source) readStream(ctx context.Context, st connector.Stream, raw json.RawMessage, req connector.ReadRequest, emit connector.Emitter, smp ...*sampler) error {
	sc, err := s.streamConfig(st)
	if err != nil {
		return err
	}
	comp, err := checkStream(sc)
	if err != nil {
		return err
	}
	var hooks StreamHooks
	if s.opts.Hooks != nil {
		hooks = s.opts.Hooks(st.Name, sc)
	}
	p := &Pages{stream: st, emit: emit, batchSize: req.BatchSize, limit: req.Limit, text: hooks.Text, reshape: hooks.Record}
	if p.batchSize <= 0 {
		p.batchSize = filesource.DefaultBatchSize
	}
	if len(smp) > 0 {
		p.sample = smp[0]
		p.sample.text = hooks.Text
	}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &p.pos); err != nil {
			return fmt.Errorf("saved state %s: %w", snippet(raw, 80), err)
		}
	}
	if p.pos.Done {
		if !st.SyncMode.Incremental() {
			// The sync ended after its last checkpoint: nothing is left.
			return p.flush(ctx, true)
		}
		p.pos = state{Cursor: maxCursor(p.pos.Cursor, p.pos.Max)}
	}
	inc := sc.Incremental
	if st.SyncMode.Incremental() {
		p.cursorCol = st.CursorField
		if inc != nil && inc.CursorField != "" {
			p.cursorCol = inc.CursorField
		}
		if p.cursorCol == "" {
			return fmt.Errorf("sync mode %s needs incremental.cursor_field or the stream's cursor_field", st.SyncMode)
		}
		p.low = p.pos.Cursor
		if p.low == "" && inc != nil {
			p.low = inc.Start
			p.pos.Cursor = inc.Start
		}
	} else {
		p.pos.Cursor, p.pos.Max = "", ""
	}
	switch {
	case hooks.Read != nil:
		err = hooks.Read(ctx, s.client, p)
	case sc.Parent != nil:
		err = s.readChildren(ctx, sc, comp, hooks, p)
	default:
		resumed := p.pos.Next != nil
		for {
			var first *Request
			if p.pos.Next != nil {
				first = p.pos.Next
			} else if first, err = s.firstRequest(ctx, sc, hooks, p, sc.Path); err != nil {
				return err
			}
			err = s.pageLoop(ctx, sc, comp, first, p.ordered, func(recs []any, req, next *Request) (bool, error) {
				err := p.page(ctx, recs, req.String(), func(ps *state) { ps.Next, ps.Done = next, next == nil })
				return p.Full(), err
			})
			var se *StatusError
			if !resumed || p.pages > 0 || hooks.Expired == nil || !errors.As(err, &se) || !hooks.Expired(se) {
				break
			}
			// The saved page position expired (a query cursor kept only
			// for minutes): the sync starts again from its first request,
			// so rows committed before are read again rather than lost.
			s.opts.Logger.Warn("rest: saved page position expired, sync starts again", "stream", st.Name, "request", first.String(), "err", err)
			resumed, p.pos.Next = false, nil
		}
	}
	if errors.Is(err, errSampled) {
		return nil
	}
	if err != nil {
		return err
	}
	return p.finish(ctx)
}

// firstRequest builds a sync's first request for path: the configured
// parameters and body, the first page's parameters and the cursor.
func (s *Source) firstRequest(ctx context.Context, sc StreamConfig, hooks StreamHooks, p *Pages, path string) (*Request, error) {
	u, err := s.client.Resolve(ctx, path)
	if err != nil {
		return nil, err
	}
	r := &Request{Method: strings.ToUpper(sc.Method), URL: u, Query: url.Values{}}
	if r.Method == http.MethodGet {
		r.Method = ""
	}
	for k, v := range sc.Params {
		r.Query.Set(k, v)
	}
	if sc.Body != nil {
		r.Body = deepCopy(sc.Body).(map[string]any)
	}
	if pg := sc.Pagination; pg != nil {
		if pg.SizeParam != "" && pg.Size > 0 {
			setParam(r, pg.In, pg.SizeParam, pg.Size)
		} else if pg.Type == "offset" && pg.Size > 0 {
			setParam(r, pg.In, "limit", pg.Size)
		}
		switch pg.Type {
		case "page":
			setParam(r, pg.In, pageParam(pg), startOf(pg, 1))
		case "offset":
			setParam(r, pg.In, pageParam(pg), startOf(pg, 0))
		}
	}
	if p.cursorCol != "" {
		switch {
		case hooks.Incremental != nil:
			if err := hooks.Incremental(r, p.low); err != nil {
				return nil, err
			}
		case p.low != "" && sc.Incremental != nil && sc.Incremental.Param != "":
			v, err := formatCursor(p.low, sc.Incremental.Format)
			if err != nil {
				return nil, fmt.Errorf("incremental.format: %w", err)
			}
			setParam(r, sc.Incremental.In, sc.Incremental.Param, v)
		}
	}
	return r, nil
}

func pageParam(pg *Pagination) string {
	switch {
	case pg.Param != "":
		return pg.Param
	case pg.Type == "offset":
		return "offset"
	}
	return "page"
}

func startOf(pg *Pagination, def int) int {
	if pg.Start != nil {
		return *pg.Start
	}
	return def
}

// setParam puts a parameter in the query string or the JSON body.
func setParam(r *Request, in, name string, v any) {
	if in == "body" {
		if r.Body == nil {
			r.Body = map[string]any{}
		}
		r.Body[name] = v
		return
	}
	if r.Query == nil {
		r.Query = url.Values{}
	}
	r.Query.Set(name, fmt.Sprint(v))
}

func getParam(r *Request, in, name string) (string, bool) {
	if in == "body" {
		v, ok := r.Body[name]
		if !ok {
			return "", false
		}
		return fmt.Sprint(v), true
	}
	if v := r.Query.Get(name); v != "" {
		return v, true
	}
	if u, err := url.Parse(r.URL); err == nil && u.Query().Has(name) {
		return u.Query().Get(name), true
	}
	return "", false
}

// formatCursor renders the cursor for a request: epoch times as numbers
// (a JSON body gets a number), layouts as text.
func formatCursor(v, format string) (any, error) {
	if format == "" {
		return v, nil
	}
	t, err := connector.ParseTimestamp(v)
	if err != nil {
		return nil, fmt.Errorf("cursor %q is not a timestamp", v)
	}
	switch format {
	case "unix":
		return t.Unix(), nil
	case "unix_ms":
		return t.UnixMilli(), nil
	}
	return t.Format(format), nil
}

// pageLoop requests pages from first on until the pagination ends or
// onPage says stop.
func (s *Source) pageLoop(ctx context.Context, sc StreamConfig, comp compiled, req *Request, ordered func() bool, onPage func(recs []any, req, next *Request) (bool, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	f := s.fetcher(ctx, sc.Pagination)
	defer f.wait()
	defer cancel()
	seen := map[string]int{}
	for n := 1; req != nil; n++ {
		key := requestKey(req)
		if prev, ok := seen[key]; ok {
			return fmt.Errorf("pagination loop: page %d would request %s again, as page %d did (the API handed back the same cursor or link)", n, req, prev)
		}
		seen[key] = n
		resp, err := f.get(req)
		if err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		doc, err := decodeBody(resp.Body, resp.Header.Get("Content-Type"), ordered())
		if err != nil {
			return fmt.Errorf("page %d, %s: %w", n, req, err)
		}
		recs, err := selectRecords(comp.records, doc)
		if err != nil {
			return fmt.Errorf("page %d, %s: %w", n, req, err)
		}
		next, err := nextRequest(sc.Pagination, comp, req, resp, doc, len(recs))
		if err != nil {
			return fmt.Errorf("page %d, %s: %w", n, req, err)
		}
		stop, err := onPage(recs, req, next)
		if err != nil || stop {
			return err
		}
		req = next
	}
	return nil
}

// fetcher sends a stream's requests. With pagination.concurrency above one
// and page or offset pagination, where the next request does not depend
// on the answer, it requests that many pages ahead; answers are still
// used in order, and pages past the last are dropped unread.
type fetcher struct {
	s       *Source
	ctx     context.Context
	pg      *Pagination
	ahead   []*inflight
	pending sync.WaitGroup
}

type inflight struct {
	key  string
	req  *Request
	done chan struct{}
	resp *Response
	err  error
}

func (s *Source) fetcher(ctx context.Context, pg *Pagination) *fetcher {
	f := &fetcher{s: s, ctx: ctx}
	if pg != nil && pg.Concurrency > 1 && (pg.Type == "page" || pg.Type == "offset") {
		f.pg = pg
	}
	return f
}

func (f *fetcher) start(req *Request) {
	in := &inflight{key: requestKey(req), req: req, done: make(chan struct{})}
	f.ahead = append(f.ahead, in)
	f.pending.Add(1)
	go func() {
		defer f.pending.Done()
		defer close(in.done)
		in.resp, in.err = f.s.client.Do(f.ctx, req, nil)
	}()
}

// get returns the answer to req, from the requests sent ahead when one of
// them is req.
func (f *fetcher) get(req *Request) (*Response, error) {
	if f.pg == nil {
		return f.s.client.Do(f.ctx, req, nil)
	}
	key := requestKey(req)
	for len(f.ahead) > 0 && f.ahead[0].key != key {
		f.ahead = f.ahead[1:] // not asked for after all
	}
	if len(f.ahead) == 0 {
		f.start(req)
	}
	// Keep the window full: the pages after the last one sent, assuming
	// each comes back full.
	for len(f.ahead) < f.pg.Concurrency {
		last := f.ahead[len(f.ahead)-1].req
		next, err := nextRequest(f.pg, compiled{}, last, nil, nil, max(f.pg.Size, 1))
		if err != nil || next == nil {
			break
		}
		f.start(next)
	}
	in := f.ahead[0]
	f.ahead = f.ahead[1:]
	select {
	case <-in.done:
	case <-f.ctx.Done():
		return nil, f.ctx.Err()
	}
	return in.resp, in.err
}

// wait lets requests still under way end; the loop's context is
// cancelled by then.
func (f *fetcher) wait() { f.pending.Wait() }

func requestKey(r *Request) string {
	b, _ := json.Marshal(r.Body)
	return r.String() + " " + string(b)
}

// nextRequest is the request of the page after resp, nil after the last.
func nextRequest(pg *Pagination, comp compiled, req *Request, resp *Response, doc any, n int) (*Request, error) {
	if pg == nil {
		// Without a pagination setting, a Link header naming the next
		// page is still followed: an API that sends one has more.
		pg = &Pagination{Type: "link"}
	}
	switch pg.Type {
	case "page", "offset":
		if n == 0 || (pg.Size > 0 && n < pg.Size) {
			return nil, nil
		}
		name := pageParam(pg)
		cur := startOf(pg, map[bool]int{true: 1, false: 0}[pg.Type == "page"])
		if v, ok := getParam(req, pg.In, name); ok {
			i, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("pagination: %s=%q is not a number", name, v)
			}
			cur = i
		}
		step := 1
		if pg.Type == "offset" {
			step = max(pg.Size, n)
		}
		next := req.clone()
		setParam(next, pg.In, name, cur+step)
		return next, nil
	case "cursor":
		v := selectOne(comp.cursor, doc)
		var c string
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			c = x
		case json.Number:
			c = string(x)
		case bool:
			if !x {
				return nil, nil
			}
			c = "true"
		default:
			return nil, fmt.Errorf("pagination: cursor at %s is a %s, not a string or number", pg.CursorPath, jsonKind(v))
		}
		if c == "" {
			return nil, nil
		}
		next := req.clone()
		setParam(next, pg.In, pg.Param, c)
		return next, nil
	case "link":
		link := nextLink(resp.Header.Values("Link"))
		if link == "" {
			return nil, nil
		}
		return follow(req, resp, link)
	case "next_url":
		v := selectOne(comp.nextURL, doc)
		s, _ := v.(string)
		if v != nil && s == "" && jsonKind(v) != "string" {
			return nil, fmt.Errorf("pagination: next URL at %s is a %s, not a string", pg.NextURLPath, jsonKind(v))
		}
		if s == "" {
			return nil, nil
		}
		return follow(req, resp, s)
	}
	return nil, nil
}

// follow makes the request of a next-page URL, relative to the page's.
func follow(req *Request, resp *Response, link string) (*Request, error) {
	u, err := resp.URL.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("pagination: next page URL %q: %w", link, err)
	}
	return &Request{Method: req.Method, URL: u.String(), Body: req.Body}, nil
}

var linkRe = regexp.MustCompile(`<([^>]*)>\s*((?:;\s*[^;,]+)*)`)

// nextLink finds rel="next" in Link headers (RFC 8288).
func nextLink(values []string) string {
	for _, v := range values {
		for _, m := range linkRe.FindAllStringSubmatch(v, -1) {
			for _, param := range strings.Split(m[2], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return m[1]
					}
				}
			}
		}
	}
	return ""
}

var placeholder = regexp.MustCompile(`\{([^{}]+)\}`)

// readChildren reads a child stream once per record of its parent.
func (s *Source) readChildren(ctx context.Context, sc StreamConfig, comp compiled, hooks StreamHooks, p *Pages) error {
	var parent *NamedStream
	for i := range s.cfg.Streams {
		if s.cfg.Streams[i].Name == sc.Parent.Stream {
			parent = &s.cfg.Streams[i]
		}
	}
	if parent == nil {
		return fmt.Errorf("parent.stream: %q is not declared in the config's streams", sc.Parent.Stream)
	}
	if parent.Parent != nil {
		return fmt.Errorf("parent.stream: %q has a parent itself; one level is supported", sc.Parent.Stream)
	}
	pcomp, err := checkStream(parent.StreamConfig)
	if err != nil {
		return fmt.Errorf("parent stream %s: %w", parent.Name, err)
	}
	// Parents are read whole, without their incremental filter: a child
	// changes without its parent changing.
	var parents []any
	pfirst, err := s.firstRequest(ctx, parent.StreamConfig, StreamHooks{}, &Pages{}, parent.Path)
	if err != nil {
		return err
	}
	unordered := func() bool { return false }
	err = s.pageLoop(ctx, parent.StreamConfig, pcomp, pfirst, unordered, func(recs []any, req, _ *Request) (bool, error) {
		for i, r := range recs {
			if _, ok := r.(map[string]any); !ok {
				return false, fmt.Errorf("parent stream %s: %s, record %d is a %s, not an object", parent.Name, req, i+1, jsonKind(r))
			}
			parents = append(parents, r)
		}
		return p.sample != nil && len(parents) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("parent stream %s: %w", parent.Name, err)
	}
	for i := p.pos.Parents; i < len(parents); i++ {
		par := parents[i]
		var missing []string
		path := placeholder.ReplaceAllStringFunc(sc.Path, func(m string) string {
			v, ok := field(par, m[1:len(m)-1])
			if !ok || v == nil {
				missing = append(missing, m)
				return m
			}
			return url.PathEscape(connector.FormatValue(plainScalar(v)))
		})
		if len(missing) > 0 {
			return fmt.Errorf("parent %s record %d has no value for %s in path %q", parent.Name, i+1, strings.Join(missing, ", "), sc.Path)
		}
		p.extra = p.extra[:0]
		for child, parentField := range sc.Parent.Fields {
			v, _ := field(par, parentField)
			p.extra = append(p.extra, filesource.KV{Key: child, Value: plain(v)})
		}
		sortKVs(p.extra)
		var first *Request
		if i == p.pos.Parents && p.pos.Next != nil {
			first = p.pos.Next
		} else if first, err = s.firstRequest(ctx, sc, hooks, p, path); err != nil {
			return err
		}
		err := s.pageLoop(ctx, sc, comp, first, p.ordered, func(recs []any, req, next *Request) (bool, error) {
			err := p.page(ctx, recs, req.String(), func(ps *state) {
				ps.Parents, ps.Next = i, next
				if next == nil {
					ps.Parents = i + 1
				}
			})
			return p.Full(), err
		})
		if err != nil || p.Full() {
			return err
		}
		p.pos.Parents, p.pos.Next = i+1, nil
	}
	return nil
}

func plainScalar(v any) any {
	if n, ok := v.(json.Number); ok {
		return string(n)
	}
	return plain(v)
}

func sortKVs(kv []filesource.KV) {
	for i := 1; i < len(kv); i++ {
		for j := i; j > 0 && kv[j].Key < kv[j-1].Key; j-- {
			kv[j], kv[j-1] = kv[j-1], kv[j]
		}
	}
}
