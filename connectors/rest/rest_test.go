package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

func newTestSource(t *testing.T, cfg map[string]any) connector.Source {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := connector.NewSource(context.Background(), "rest", raw)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// fastRetry keeps backoff waits short in tests.
var fastRetry = map[string]any{"initial_backoff": "1ms", "max_backoff": "50ms"}

func read(t *testing.T, src connector.Source, st connector.Stream, state json.RawMessage, batch int) (*sourcetest.Emitter, error) {
	t.Helper()
	e := &sourcetest.Emitter{}
	req := connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: batch}
	if state != nil {
		req.State = map[string]json.RawMessage{st.Name: state}
	}
	return e, src.Read(context.Background(), req, e)
}

func ids(rows []sourcetest.Row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i], _ = r.Values["id"].(int64)
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// Every pagination style, each behind a different auth, with 429s, 5xx,
// an HTML error page and a cut response on the way: every record arrives
// once, in order, through exactly the expected requests.
func TestPaginationAuthAndFaults(t *testing.T) {
	cases := []struct {
		name       string
		auth       string
		authCfg    map[string]any
		stream     map[string]any
		faults     map[int]string
		wantReqs   []string
		wantTokens []string
	}{
		{
			name: "page number, api key in header", auth: "api_key_header",
			authCfg:  map[string]any{"type": "api_key", "name": "X-Api-Key", "value": "k-123"},
			stream:   map[string]any{"path": "/page/orders", "records": "$.data", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 10}},
			faults:   map[int]string{2: "429", 3: "503"},
			wantReqs: []string{"/page/orders?page=1&per_page=10", "/page/orders?page=2&per_page=10", "/page/orders?page=3&per_page=10"},
		},
		{
			name: "offset and limit, api key in query", auth: "api_key_query",
			authCfg:  map[string]any{"type": "api_key", "name": "api_key", "in": "query", "value": "k-123"},
			stream:   map[string]any{"path": "/offset/orders", "records": "$.results.items[*]", "pagination": map[string]any{"type": "offset", "size": 10}},
			faults:   map[int]string{1: "500-html", 2: "429-backoff"},
			wantReqs: []string{"/offset/orders?limit=10&offset=0", "/offset/orders?limit=10&offset=10", "/offset/orders?limit=10&offset=20"},
		},
		{
			name: "cursor, bearer", auth: "bearer",
			authCfg:  map[string]any{"type": "bearer", "token": "t-456"},
			stream:   map[string]any{"path": "/cursor/orders", "records": "$.data", "pagination": map[string]any{"type": "cursor", "cursor_path": "$.next_cursor", "param": "cursor"}},
			faults:   map[int]string{3: "truncated"},
			wantReqs: []string{"/cursor/orders", "/cursor/orders?cursor=YXQ6Nw", "/cursor/orders?cursor=YXQ6MTQ", "/cursor/orders?cursor=YXQ6MjE"},
		},
		{
			name: "link header, basic", auth: "basic",
			authCfg:  map[string]any{"type": "basic", "username": "ann", "password": "pä55"},
			stream:   map[string]any{"path": "/link/orders"},
			faults:   map[int]string{2: "503"},
			wantReqs: []string{"/link/orders", "/link/orders?from=6", "/link/orders?from=12", "/link/orders?from=18", "/link/orders?from=24"},
		},
		{
			name: "next url in body, oauth2 client credentials", auth: "oauth2",
			stream:     map[string]any{"path": "/nexturl/orders", "records": "$.items", "pagination": map[string]any{"type": "next_url", "next_url_path": "$.links.next"}},
			faults:     map[int]string{4: "429"},
			wantReqs:   []string{"/nexturl/orders", "/nexturl/orders?after=8", "/nexturl/orders?after=16", "/nexturl/orders?after=24"},
			wantTokens: []string{"client_credentials", "client_credentials", "client_credentials"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAPIServer(t, tc.auth, 25)
			srv.faults = tc.faults
			authCfg := tc.authCfg
			if tc.auth == "oauth2" {
				// Each token is good for two requests: the third is
				// refused and a new token fetched.
				srv.tokenUses = 2
				authCfg = map[string]any{"type": "oauth2", "token_url": srv.URL + "/oauth/token", "client_id": "client-1", "client_secret": "s3cret", "scopes": []string{"read"}}
			}
			src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "auth": authCfg, "retry": fastRetry})
			e, err := read(t, src, connector.Stream{Name: "orders", SyncMode: connector.FullRefreshOverwrite, Config: tc.stream}, nil, 1000)
			if err != nil {
				t.Fatal(err)
			}
			rows := e.Rows()
			if got := ids(rows); !slices.Equal(got, seq(1, 25)) {
				t.Fatalf("ids = %v", got)
			}
			if got := srv.log(); !slices.Equal(got, tc.wantReqs) {
				t.Errorf("requests =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.wantReqs, "\n"))
			}
			if len(e.Rejects) != 0 {
				t.Errorf("rejects: %+v", e.Rejects)
			}
			if tc.wantTokens != nil && !slices.Equal(srv.tokenCalls, tc.wantTokens) {
				t.Errorf("token requests = %v, want %v", srv.tokenCalls, tc.wantTokens)
			}
			r := rows[2].Values
			if r["customer"] != "customer 3 ü" || r["updated_at"] != epoch.Add(2*time.Hour) || r["score"] != 2.5 || r["amount"] != "12.02" {
				t.Errorf("row 3 = %v", r)
			}
			if got := e.Batches[0].Schema.Names(); !slices.Equal(got, []string{"id", "customer", "amount", "updated_at", "score"}) {
				t.Errorf("fields = %v", got)
			}
		})
	}
}

// The refresh-token flow keeps the newest refresh token the server hands
// out: the server refuses a refresh token used before.
func TestOAuth2RefreshTokenRotates(t *testing.T) {
	srv := newAPIServer(t, "oauth2", 25)
	srv.tokenUses = 1
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "retry": fastRetry, "auth": map[string]any{
		"type": "oauth2", "token_url": srv.URL + "/oauth/token", "client_id": "client-1", "client_secret": "s3cret", "refresh_token": "refresh-0",
	}})
	e, err := read(t, src, connector.Stream{Name: "orders", Config: map[string]any{
		"path": "/page/orders", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 10},
	}}, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(e.Rows()); !slices.Equal(got, seq(1, 25)) {
		t.Fatalf("ids = %v", got)
	}
	if want := []string{"refresh_token", "refresh_token", "refresh_token"}; !slices.Equal(srv.tokenCalls, want) {
		t.Errorf("token requests = %v, want %v", srv.tokenCalls, want)
	}
}

func TestOAuth2BadClientFails(t *testing.T) {
	srv := newAPIServer(t, "oauth2", 3)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "auth": map[string]any{
		"type": "oauth2", "token_url": srv.URL + "/oauth/token", "client_id": "client-1", "client_secret": "wrong", "scopes": []string{"read"},
	}})
	_, err := read(t, src, connector.Stream{Name: "orders", Config: map[string]any{"path": "/link/orders"}}, nil, 100)
	if err == nil || !strings.Contains(err.Error(), "oauth2 token from") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v", err)
	}
}

// Incremental: the first sync reads everything; the next sends the
// highest cursor seen and gets only what changed since.
func TestIncrementalSendsCursor(t *testing.T) {
	srv := newAPIServer(t, "bearer", 20)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "auth": map[string]any{"type": "bearer", "token": "t-456"}})
	st := connector.Stream{Name: "orders", SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"id"}, Config: map[string]any{
		"path": "/cursor/orders", "records": "$.data",
		"pagination":  map[string]any{"type": "cursor", "cursor_path": "$.next_cursor", "param": "cursor"},
		"incremental": map[string]any{"cursor_field": "updated_at", "param": "updated_since"},
	}}
	e, err := read(t, src, st, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(e.Rows()); !slices.Equal(got, seq(1, 20)) {
		t.Fatalf("first sync ids = %v", got)
	}
	last := epoch.Add(19 * time.Hour).Format(time.RFC3339)
	if got := string(e.Last()); got != `{"cursor":"`+last+`"}` {
		t.Fatalf("final state = %s", got)
	}
	srv.mu.Lock()
	srv.orders[4].UpdatedAt = epoch.Add(30 * time.Hour).Format(time.RFC3339)
	srv.orders = append(srv.orders, order{ID: 21, Customer: "new", Amount: "1.00", UpdatedAt: epoch.Add(31 * time.Hour).Format(time.RFC3339)})
	srv.requests = nil
	srv.mu.Unlock()
	e2, err := read(t, src, st, e.Last(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(e2.Rows()); !slices.Equal(got, []int64{5, 21}) {
		t.Fatalf("second sync ids = %v", got)
	}
	if got := srv.log(); len(got) != 1 || got[0] != "/cursor/orders?updated_since="+url.QueryEscape(last) {
		t.Errorf("second sync requests = %v", got)
	}
	if got := string(e2.Last()); !strings.Contains(got, epoch.Add(31*time.Hour).Format(time.RFC3339)) {
		t.Errorf("second state = %s", got)
	}
}

// A POST API taking its filter, page token and cursor in the JSON body,
// the cursor sent as unix seconds.
func TestPostBodyParameters(t *testing.T) {
	srv := newAPIServer(t, "none", 9)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api"})
	st := connector.Stream{Name: "orders", SyncMode: connector.IncrementalAppend, Config: map[string]any{
		"path": "/search/orders", "method": "POST", "body": map[string]any{"filter": map[string]any{"status": "open"}},
		"records":     "$.hits",
		"pagination":  map[string]any{"type": "cursor", "cursor_path": "$.next", "param": "page_token", "in": "body", "size_param": "limit", "size": 4},
		"incremental": map[string]any{"cursor_field": "updated_at", "param": "since", "in": "body", "format": "unix", "start": "2026-01-01T02:00:00Z"},
	}}
	e, err := read(t, src, st, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(e.Rows()); !slices.Equal(got, seq(4, 9)) {
		t.Fatalf("ids = %v", got)
	}
	since := epoch.Add(2 * time.Hour).Unix()
	want := []string{
		fmt.Sprintf(`/search/orders {"filter":{"status":"open"},"since":%d,"page_token":"","limit":4}`, since),
		fmt.Sprintf(`/search/orders {"filter":{"status":"open"},"since":%d,"page_token":"4","limit":4}`, since),
	}
	if got := srv.log(); !slices.Equal(got, want) {
		t.Errorf("requests =\n%s", strings.Join(got, "\n"))
	}
}

// A run stopped after each checkpoint and resumed from it reads every
// record exactly once, in order, for every pagination style and for a
// child stream.
func TestResumeAfterEveryPage(t *testing.T) {
	streams := map[string]map[string]any{
		"page":     {"path": "/page/orders", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 4}},
		"offset":   {"path": "/offset/orders", "records": "$.results.items", "pagination": map[string]any{"type": "offset", "size": 4}},
		"cursor":   {"path": "/cursor/orders", "pagination": map[string]any{"type": "cursor", "cursor_path": "$.next_cursor", "param": "cursor"}, "incremental": map[string]any{"cursor_field": "updated_at", "param": "updated_since"}},
		"link":     {"path": "/link/orders"},
		"next_url": {"path": "/nexturl/orders", "records": "$.items", "pagination": map[string]any{"type": "next_url", "next_url_path": "$.links.next"}},
	}
	for name, cfg := range streams {
		t.Run(name, func(t *testing.T) {
			srv := newAPIServer(t, "none", 17)
			src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api"})
			mode := connector.FullRefreshAppend
			if cfg["incremental"] != nil {
				mode = connector.IncrementalAppend
			}
			all := sourcetest.ReadInPieces(t, src, connector.Stream{Name: "orders", SyncMode: mode, Config: cfg}, 1, 1)
			if got := ids(all.Rows()); !slices.Equal(got, seq(1, 17)) {
				t.Fatalf("ids = %v", got)
			}
			if len(all.Checkpoints) < 3 {
				t.Errorf("only %d checkpoints", len(all.Checkpoints))
			}
			// No page was fetched twice except the one a stopped run
			// had read but not committed.
			log := srv.log()
			distinct := map[string]bool{}
			for _, r := range log {
				distinct[r] = true
			}
			if len(log) > 2*len(distinct) {
				t.Errorf("requests = %v", log)
			}
		})
	}
	t.Run("child", func(t *testing.T) {
		srv := newAPIServer(t, "none", 5)
		src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "streams": []any{
			map[string]any{"name": "orders", "path": "/link/orders"},
		}})
		st := connector.Stream{Name: "items", Config: map[string]any{
			"path": "/orders/{id}/items", "pagination": map[string]any{"type": "page"},
			"parent": map[string]any{"stream": "orders", "fields": map[string]any{"order_id": "id"}},
		}}
		all := sourcetest.ReadInPieces(t, src, st, 1, 1)
		var got []string
		for _, r := range all.Rows() {
			got = append(got, fmt.Sprintf("%v/%v/%v", r.Values["order_id"], r.Values["sku"], r.Values["qty"]))
		}
		var want []string
		for i := 1; i <= 5; i++ {
			want = append(want, fmt.Sprintf("%d/A-%d/1", i, i), fmt.Sprintf("%d/B-%d/%d", i, i, i+1))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("items = %v\nwant %v", got, want)
		}
	})
}

func TestParentChild(t *testing.T) {
	srv := newAPIServer(t, "none", 4)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "streams": []any{
		map[string]any{"name": "orders", "path": "/page/orders", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 3}},
		map[string]any{"name": "items", "path": "/orders/{id}/items", "pagination": map[string]any{"type": "page"}, "parent": map[string]any{"stream": "orders", "fields": map[string]any{"order_id": "id", "customer": "customer"}}},
	}})
	e, err := read(t, src, connector.Stream{Name: "items"}, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.Rows()
	if len(rows) != 8 || rows[7].Values["order_id"] != int64(4) || rows[7].Values["customer"] != "customer 4 ü" || rows[7].Values["sku"] != "B-4" {
		t.Fatalf("rows = %v", rows)
	}
	want := []string{"/page/orders?page=1&per_page=3", "/page/orders?page=2&per_page=3", "/orders/1/items?page=1", "/orders/1/items?page=2", "/orders/1/items?page=3"}
	if got := srv.log(); !slices.Equal(got[:5], want) || len(got) != 2+4*3 {
		t.Errorf("requests = %v", got)
	}
}

// Page pagination with concurrency requests pages ahead and still hands
// records over once each, in order.
func TestConcurrentPages(t *testing.T) {
	srv := newAPIServer(t, "none", 25)
	srv.slow = 20 * time.Millisecond
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api"})
	st := connector.Stream{Name: "orders", Config: map[string]any{"path": "/page/orders", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 3, "concurrency": 4}}}
	e, err := read(t, src, st, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(e.Rows()); !slices.Equal(got, seq(1, 25)) {
		t.Fatalf("ids = %v", got)
	}
	log := srv.log()
	for p := 1; p <= 9; p++ {
		if !slices.Contains(log, fmt.Sprintf("/page/orders?page=%d&per_page=3", p)) {
			t.Errorf("page %d not requested: %v", p, log)
		}
	}
	if len(log) > 12 {
		t.Errorf("%d requests, more than 9 pages and 3 ahead", len(log))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.maxInflight < 2 {
		t.Errorf("at most %d request at once", srv.maxInflight)
	}
	// A resumed read starts at the saved page, concurrency or not.
	var state struct{ Next *Request }
	json.Unmarshal(e.Checkpoints[2], &state)
	if state.Next == nil || state.Next.Query.Get("page") != "4" {
		t.Errorf("third checkpoint = %s", e.Checkpoints[2])
	}
}

func TestRateLimit(t *testing.T) {
	srv := newAPIServer(t, "none", 30)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "rate_limit": map[string]any{"requests_per_second": 20}})
	start := time.Now()
	e, err := read(t, src, connector.Stream{Name: "orders", Config: map[string]any{"path": "/page/orders", "pagination": map[string]any{"type": "page", "size_param": "per_page", "size": 3}}}, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	n := len(srv.log())
	if n != 11 || len(e.Rows()) != 30 {
		t.Fatalf("%d requests, %d rows", n, len(e.Rows()))
	}
	// 11 requests at 20/s with a burst of one: at least 10 intervals.
	if took < 450*time.Millisecond {
		t.Errorf("11 requests took %s, faster than 20 per second", took)
	}
}

func TestTimeoutRetriedThenFails(t *testing.T) {
	srv := newAPIServer(t, "none", 3)
	srv.delay = 2 * time.Second
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "timeout": "100ms", "retry": fastRetry})
	e, err := read(t, src, connector.Stream{Name: "orders", Config: map[string]any{"path": "/link/orders"}}, nil, 100)
	if err != nil || len(e.Rows()) != 3 {
		t.Fatalf("err = %v, rows %d", err, len(e.Rows()))
	}
	srv.delay = 2 * time.Second
	src = newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "timeout": "100ms", "retry": map[string]any{"max_attempts": 1}})
	_, err = read(t, src, connector.Stream{Name: "orders", Config: map[string]any{"path": "/link/orders"}}, nil, 100)
	if err == nil || !strings.Contains(err.Error(), "no response within timeout 100ms") || !strings.Contains(err.Error(), "stream orders: page 1") {
		t.Fatalf("err = %v", err)
	}
}

// Bad answers fail the stream with an error naming the stream, the page
// and what came; records that cannot be kept are quarantined with their
// origin while the others are kept.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name   string
		faults map[int]string
		stream map[string]any
		retry  map[string]any
		want   string
	}{
		{"html page", map[int]string{2: "html-200"}, map[string]any{"path": "/link/orders"}, nil, `stream orders: page 2, GET ` + "%s" + `/api/link/orders?from=6: response is an HTML page, not JSON (title "Sign in")`},
		{"not json", map[int]string{1: "not-json"}, map[string]any{"path": "/link/orders"}, nil, `page 1, GET %s/api/link/orders: response is not valid JSON`},
		{"retries exhausted", map[int]string{1: "500-html", 2: "500-html"}, map[string]any{"path": "/link/orders"}, map[string]any{"max_attempts": 2, "initial_backoff": "1ms"}, `page 1: GET %s/api/link/orders: 500 Internal Server Error: an HTML page titled "Internal Error" (after 2 attempts)`},
		{"retry after too long", map[int]string{1: "429-long"}, map[string]any{"path": "/link/orders"}, fastRetry, `Retry-After asks to wait 1h0m0s, longer than retry.max_backoff 50ms`},
		{"cursor loop", nil, map[string]any{"path": "/cursor/orders", "params": map[string]any{"loop": "1"}, "pagination": map[string]any{"type": "cursor", "cursor_path": "$.next_cursor", "param": "cursor"}}, nil, `pagination loop: page 3 would request GET %s/api/cursor/orders?cursor=YXQ6Nw&loop=1 again, as page 2 did`},
		{"not found", nil, map[string]any{"path": "/nothing"}, nil, `page 1: GET %s/api/nothing: 404 Not Found: 404 page not found`},
		{"no records", nil, map[string]any{"path": "/offset/orders"}, nil, `set the stream's records selector`},
		{"bad selector", nil, map[string]any{"path": "/offset/orders", "records": "$.[["}, nil, `records: JSONPath "$.[["`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAPIServer(t, "none", 10)
			srv.faults = tc.faults
			cfg := map[string]any{"base_url": srv.URL + "/api"}
			if tc.retry != nil {
				cfg["retry"] = tc.retry
			}
			src := newTestSource(t, cfg)
			_, err := read(t, src, connector.Stream{Name: "orders", Config: tc.stream}, nil, 100)
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, srv.URL)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant it to contain %s", err, want)
			}
		})
	}
	t.Run("rejects", func(t *testing.T) {
		srv := newAPIServer(t, "none", 0)
		src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api"})
		e, err := read(t, src, connector.Stream{Name: "orders", Schema: map[string]connector.Type{"amount": connector.TypeDecimal, "id": connector.TypeInt64}, Config: map[string]any{"path": "/bad/orders"}}, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		rows := e.Rows()
		if len(rows) != 2 || rows[0].Values["amount"] != (connector.Decimal{Unscaled: 150, Scale: 2}) || rows[1].Values["extra"] != true {
			t.Fatalf("rows = %v", rows)
		}
		page := "GET " + srv.URL + "/api/bad/orders"
		want := []connector.Reject{
			{Stream: "orders", Origin: page + ", record 2", Raw: `"just a string"`, Reason: "record is a string, not an object", Step: "read"},
			{Stream: "orders", Origin: page + ", record 3", Raw: `{"amount":"2.50","id":"two"}`, Reason: `field "id": not an integer: "two"`, Step: "read"},
		}
		if len(e.Rejects) != len(want) {
			t.Fatalf("rejects = %+v", e.Rejects)
		}
		for i, w := range want {
			g := e.Rejects[i]
			g.At = time.Time{}
			if g != w {
				t.Errorf("reject %d = %+v\nwant %+v", i, g, w)
			}
		}
	})
}

func TestDiscoverInfersSchema(t *testing.T) {
	srv := newAPIServer(t, "bearer", 5)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "auth": map[string]any{"type": "bearer", "token": "t-456"}, "streams": []any{
		map[string]any{"name": "orders", "path": "/cursor/orders", "primary_key": []string{"id"}, "incremental": map[string]any{"cursor_field": "updated_at", "param": "updated_since"}},
		map[string]any{"name": "items", "path": "/orders/{id}/items", "parent": map[string]any{"stream": "orders", "fields": map[string]any{"order_id": "id"}}},
	}})
	if err := src.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := cat.Find("orders")
	want := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64, Nullable: true},
		connector.Field{Name: "customer", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "amount", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: "updated_at", Type: connector.TypeTimestamp, Nullable: true},
		connector.Field{Name: "score", Type: connector.TypeFloat64, Nullable: true},
	)
	if o == nil || !o.Schema.Equal(want) || !slices.Equal(o.PrimaryKey, []string{"id"}) || !slices.Contains(o.SyncModes, connector.IncrementalDedup) || !slices.Equal(o.CursorCandidates, []string{"updated_at"}) {
		t.Fatalf("orders = %+v", o)
	}
	it := cat.Find("items")
	if it == nil || !slices.Equal(it.Schema.Names(), []string{"sku", "qty", "order_id"}) {
		t.Fatalf("items = %+v", it.Schema)
	}
	bad := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "auth": map[string]any{"type": "bearer", "token": "wrong"}})
	if err := bad.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("check with a wrong token: %v", err)
	}
}

// A stream the pipeline defines, not the connection, is described by
// DiscoverStreams with its own settings.
func TestDiscoverStreams(t *testing.T) {
	srv := newAPIServer(t, "none", 3)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api"})
	cat, err := src.(*Source).DiscoverStreams(context.Background(), []connector.Stream{{Name: "orders", CursorField: "updated_at", PrimaryKey: []string{"id"}, Config: map[string]any{
		"path": "/offset/orders", "records": "$.results.items", "pagination": map[string]any{"type": "offset", "size": 2}, "incremental": map[string]any{"param": "updated_since"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	o := cat.Find("orders")
	if o == nil || !slices.Equal(o.Schema.Names(), []string{"id", "customer", "amount", "updated_at", "score"}) || !slices.Equal(o.CursorCandidates, []string{"updated_at"}) || !slices.Contains(o.SyncModes, connector.IncrementalDedup) {
		t.Fatalf("orders = %+v", o)
	}
	if got := srv.log(); len(got) != 1 {
		t.Errorf("requests = %v, want the first page only", got)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  string
		want string
	}{
		{`{}`, "base_url: is required"},
		{`{"base_url":"ftp://x"}`, `base_url: "ftp://x" is not an http or https URL`},
		{`{"base_url":"http://x","auth":{"type":"digest"}}`, `auth.type: unknown type "digest"`},
		{`{"base_url":"http://x","auth":{"type":"oauth2","client_id":"c"}}`, "auth.token_url: is required for auth type oauth2"},
		{`{"base_url":"http://x","timeout":"soon"}`, `timeout: "soon" is not a positive duration`},
		{`{"base_url":"http://x","retry":{"max_attempts":-1}}`, "retry.max_attempts: must be positive"},
		{`{"base_url":"http://x","stream":[]}`, `unknown field "stream"`},
	}
	for _, tc := range cases {
		_, err := connector.NewSource(context.Background(), "rest", json.RawMessage(tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	srv := newAPIServer(t, "none", 1)
	src := newTestSource(t, map[string]any{"base_url": srv.URL})
	_, err := read(t, src, connector.Stream{Name: "s", Config: map[string]any{"path": "/x", "pagination": map[string]any{"type": "cursor"}}}, nil, 10)
	if err == nil || !strings.Contains(err.Error(), "pagination.param: is required for cursor pagination") || !strings.Contains(err.Error(), "pagination.cursor_path: is required") {
		t.Errorf("err = %v", err)
	}
	_, err = read(t, src, connector.Stream{Name: "s", Config: map[string]any{"path": "/x", "paging": 1}}, nil, 10)
	if err == nil || !strings.Contains(err.Error(), `stream s: stream settings: config: json: unknown field "paging"`) {
		t.Errorf("err = %v", err)
	}
}

func TestSpecMarksAuthSecret(t *testing.T) {
	info, ok := connector.Lookup("rest")
	if !ok || info.Source == nil || !slices.Equal(info.Source.Secrets, []string{"auth"}) {
		t.Fatalf("rest spec = %+v", info)
	}
	// A secret exported as one ${VAR} comes back as a string: the auth
	// object as JSON text is accepted, and the schema says so.
	srv := newAPIServer(t, "bearer", 2)
	src := newTestSource(t, map[string]any{"base_url": srv.URL + "/api", "auth": `{"type": "bearer", "token": "t-456"}`})
	if e, err := read(t, src, connector.Stream{Name: "orders", Config: map[string]any{"path": "/link/orders"}}, nil, 10); err != nil || len(e.Rows()) != 2 {
		t.Fatalf("string auth: %v", err)
	}
	var doc struct {
		Properties map[string]struct {
			AnyOf     []map[string]any `json:"anyOf"`
			WriteOnly bool             `json:"writeOnly"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(info.Source.Config, &doc); err != nil || len(doc.Properties["auth"].AnyOf) != 2 || !doc.Properties["auth"].WriteOnly {
		t.Errorf("auth schema: %s", info.Source.Config)
	}
	for cfg, want := range map[string]string{
		`{"base_url":"http://x","auth":"bearer t"}`:                   "a string auth must hold a JSON object",
		`{"base_url":"http://x","auth":{"type":"bearer","tokn":"t"}}`: `auth: json: unknown field "tokn"`,
	} {
		if _, err := connector.NewSource(context.Background(), "rest", json.RawMessage(cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", cfg, err)
		}
	}
}

func TestNextLink(t *testing.T) {
	cases := map[string]string{
		`<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"`: "https://a/x?page=2",
		`<https://a/x?page=1>; rel="prev first", <https://a/y>; rel="next"`:  "https://a/y",
		`<https://a/x>; rel=next`:   "https://a/x",
		`<https://a/x>; rel="last"`: "",
		``:                          "",
	}
	for in, want := range cases {
		if got := nextLink([]string{in}); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestCmpCursor(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"2026-01-02T00:00:00Z", "2026-01-01T23:00:00-02:00", -1},
		{"10", "9", 1},
		{"1.50", "1.5", 0},
		{"abc", "abd", -1},
	}
	for _, c := range cases {
		if got := cmpCursor(c.a, c.b); got != c.want {
			t.Errorf("cmp(%s, %s) = %d", c.a, c.b, got)
		}
	}
}

// The wait before a retry is random within the upper half of a window
// that doubles per attempt up to max_backoff.
func TestBackoff(t *testing.T) {
	c := &Client{set: settings{initialBackoff: 100 * time.Millisecond, maxBackoff: time.Second}}
	cases := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{40, 500 * time.Millisecond, time.Second},
	}
	for _, tc := range cases {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(tc.attempt)
			if d < tc.min || d > tc.max {
				t.Fatalf("attempt %d: wait %s outside [%s, %s]", tc.attempt, d, tc.min, tc.max)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("attempt %d: only %d distinct waits, no jitter", tc.attempt, len(seen))
		}
	}
	for in, want := range map[string]time.Duration{"0": 0, "7": 7 * time.Second, "soon": -1} {
		d, ok := retryAfter(in)
		if (want < 0) == ok || (ok && d != want) {
			t.Errorf("Retry-After %q = %s, %v", in, d, ok)
		}
	}
}
