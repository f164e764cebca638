package rest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiServer is a JSON API on loopback that implements every auth and
// pagination style the connector speaks, and misbehaves on a schedule.
type apiServer struct {
	*httptest.Server
	t *testing.T

	mu     sync.Mutex
	orders []order
	// auth is the scheme the API demands: none, api_key_header,
	// api_key_query, bearer, basic, oauth2.
	auth string
	// faults maps a request number (1-based, API requests only) to what
	// goes wrong with it.
	faults map[int]string
	// requests logs every API request that got a successful answer, as
	// "path?query".
	requests []string
	n        int
	// tokens issued and how often each was used; tokenUses bounds the
	// uses of one token before the API calls it expired.
	tokens     map[string]int
	tokenUses  int
	tokenCalls []string
	refreshTok string
	// delay stalls the first request this long (timeouts).
	delay time.Duration
	// slow delays every answer; inflight and maxInflight count requests
	// being answered at once.
	slow                  time.Duration
	inflight, maxInflight int
	// down answers every request from this request number on with a 404,
	// an API gone away mid-sync; 0 means never.
	down int
}

type order struct {
	ID        int64   `json:"id"`
	Customer  string  `json:"customer"`
	Amount    string  `json:"amount"`
	UpdatedAt string  `json:"updated_at"`
	Items     []item  `json:"-"`
	Score     float64 `json:"score"`
}

type item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func makeOrders(n int) []order {
	out := make([]order, n)
	for i := range out {
		out[i] = order{
			ID: int64(i + 1), Customer: fmt.Sprintf("customer %d ü", i+1), Amount: fmt.Sprintf("%d.%02d", 10+i, i%100),
			UpdatedAt: epoch.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), Score: float64(i) + 0.5,
			Items: []item{{SKU: fmt.Sprintf("A-%d", i+1), Qty: 1}, {SKU: fmt.Sprintf("B-%d", i+1), Qty: i + 2}},
		}
	}
	return out
}

func newAPIServer(t *testing.T, auth string, orders int) *apiServer {
	return newAPIServerAt(t, auth, orders, "")
}

// newAPIServerAt listens on addr ("" for any free port).
func newAPIServerAt(t *testing.T, auth string, orders int, addr string) *apiServer {
	s := &apiServer{t: t, auth: auth, orders: makeOrders(orders), faults: map[int]string{}, tokens: map[string]int{}, refreshTok: "refresh-0"}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		s.Listener.Close()
		s.Listener = l
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		s.token(w, r)
		return
	}
	s.mu.Lock()
	s.n++
	n := s.n
	fault := s.faults[n]
	delay := s.delay
	s.delay = 0
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	slow := s.slow
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	time.Sleep(slow)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if !s.authorized(w, r) {
		return
	}
	if s.down > 0 && n >= s.down {
		http.Error(w, `{"error":"gone"}`, http.StatusNotFound)
		return
	}
	switch fault {
	case "429":
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
		return
	case "429-backoff":
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
		return
	case "429-long":
		w.Header().Set("Retry-After", "3600")
		http.Error(w, `{"error":"come back in an hour"}`, http.StatusTooManyRequests)
		return
	case "503":
		w.Header().Set("Retry-After", time.Now().Add(-time.Second).UTC().Format(http.TimeFormat))
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	case "500-html":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "<html><head><title>Internal Error</title></head><body>oops</body></html>")
		return
	case "truncated":
		// Promise more than is sent, then hang up: a cut response.
		hj, _ := w.(http.Hijacker)
		conn, buf, err := hj.Hijack()
		if err != nil {
			s.t.Error(err)
			return
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"data\": [{\"id\": 1")
		buf.Flush()
		conn.Close()
		return
	case "html-200":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><head><title>Sign in</title></head></html>")
		return
	case "not-json":
		fmt.Fprint(w, "ok then")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, strings.TrimPrefix(r.URL.Path, "/api")+queryOf(r))
	orders := append([]order(nil), s.orders...)
	s.mu.Unlock()
	q := r.URL.Query()
	if since := q.Get("updated_since"); since != "" {
		ts, err := time.Parse(time.RFC3339, since)
		if err != nil {
			http.Error(w, "bad updated_since", http.StatusBadRequest)
			return
		}
		kept := orders[:0]
		for _, o := range orders {
			if ot, _ := time.Parse(time.RFC3339, o.UpdatedAt); ot.After(ts) {
				kept = append(kept, o)
			}
		}
		orders = kept
	}
	path := strings.TrimPrefix(r.URL.Path, "/api")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case path == "/page/orders":
		page, _ := strconv.Atoi(q.Get("page"))
		size, _ := strconv.Atoi(q.Get("per_page"))
		from, to := window((page-1)*size, size, len(orders))
		writeJSON(w, map[string]any{"data": orders[from:to], "page": page})
	case path == "/offset/orders":
		off, _ := strconv.Atoi(q.Get("offset"))
		lim, _ := strconv.Atoi(q.Get("limit"))
		from, to := window(off, lim, len(orders))
		writeJSON(w, map[string]any{"results": map[string]any{"items": orders[from:to], "total": len(orders)}})
	case path == "/cursor/orders" || path == "/orders":
		off := 0
		if c := q.Get("cursor"); c != "" {
			b, _ := base64.RawURLEncoding.DecodeString(c)
			off, _ = strconv.Atoi(strings.TrimPrefix(string(b), "at:"))
		}
		from, to := window(off, 7, len(orders))
		next := any(nil)
		if to < len(orders) {
			next = base64.RawURLEncoding.EncodeToString([]byte("at:" + strconv.Itoa(to)))
		}
		if q.Get("loop") != "" && off > 0 {
			next = q.Get("cursor") // hands the same cursor back
		}
		writeJSON(w, map[string]any{"data": orders[from:to], "next_cursor": next})
	case path == "/link/orders":
		off, _ := strconv.Atoi(q.Get("from"))
		from, to := window(off, 6, len(orders))
		if to < len(orders) {
			// Relative and absolute links alternate.
			link := fmt.Sprintf("/api/link/orders?from=%d", to)
			if (to/6)%2 == 0 {
				link = s.URL + link
			}
			w.Header().Add("Link", fmt.Sprintf(`<%s/api/link/orders?from=0>; rel="first", <%s>; rel="next"`, s.URL, link))
		}
		writeJSON(w, orders[from:to])
	case path == "/nexturl/orders":
		off, _ := strconv.Atoi(q.Get("after"))
		from, to := window(off, 8, len(orders))
		body := map[string]any{"items": orders[from:to]}
		if to < len(orders) {
			body["links"] = map[string]any{"next": fmt.Sprintf("orders?after=%d", to)}
		}
		writeJSON(w, body)
	case strings.HasPrefix(path, "/orders/") && strings.HasSuffix(path, "/items"):
		id, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(path, "/orders/"), "/items"))
		if id < 1 || id > len(s.orders) {
			http.NotFound(w, r)
			return
		}
		page, _ := strconv.Atoi(q.Get("page"))
		items := s.orders[id-1].Items
		from, to := window(page-1, 1, len(items))
		writeJSON(w, map[string]any{"data": items[from:to]})
	case path == "/search/orders" && r.Method == http.MethodPost:
		// Everything in the JSON body: {"filter": {...}, "since": unix
		// seconds, "page_token": "...", "limit": n}.
		var body struct {
			Filter    map[string]any `json:"filter"`
			Since     *int64         `json:"since"`
			PageToken string         `json:"page_token"`
			Limit     int            `json:"limit"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Filter["status"] != "open" || body.Limit == 0 {
			http.Error(w, `{"error":"bad search"}`, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		b, _ := json.Marshal(body)
		s.requests[len(s.requests)-1] += " " + string(b)
		s.mu.Unlock()
		kept := orders[:0]
		for _, o := range orders {
			if ot, _ := time.Parse(time.RFC3339, o.UpdatedAt); body.Since == nil || ot.Unix() > *body.Since {
				kept = append(kept, o)
			}
		}
		off, _ := strconv.Atoi(body.PageToken)
		from, to := window(off, body.Limit, len(kept))
		out := map[string]any{"hits": kept[from:to]}
		if to < len(kept) {
			out["next"] = strconv.Itoa(to)
		}
		writeJSON(w, out)
	case path == "/bad/orders":
		writeJSON(w, map[string]any{"data": []any{
			map[string]any{"id": 1, "amount": "1.50"},
			"just a string",
			map[string]any{"id": "two", "amount": "2.50"},
			map[string]any{"id": 3, "amount": "3.50", "extra": true},
		}})
	default:
		http.NotFound(w, r)
	}
}

func window(from, size, n int) (int, int) {
	from = max(0, min(from, n))
	return from, min(from+size, n)
}

func queryOf(r *http.Request) string {
	q := r.URL.Query()
	q.Del("api_key")
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func writeJSON(w http.ResponseWriter, v any) {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(err)
	}
}

func (s *apiServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	ok := false
	switch s.auth {
	case "none":
		ok = true
	case "api_key_header":
		ok = r.Header.Get("X-Api-Key") == "k-123"
	case "api_key_query":
		ok = r.URL.Query().Get("api_key") == "k-123"
	case "bearer":
		ok = r.Header.Get("Authorization") == "Bearer t-456"
	case "basic":
		u, p, has := r.BasicAuth()
		ok = has && u == "ann" && p == "pä55"
	case "oauth2":
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		uses, known := s.tokens[tok]
		if known {
			s.tokens[tok] = uses + 1
		}
		ok = known && (s.tokenUses == 0 || uses < s.tokenUses)
		s.mu.Unlock()
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
	}
	return ok
}

// token is an OAuth2 token endpoint (RFC 6749 sections 4.4 and 6): client
// credentials in a Basic header, refresh tokens rotated on every use.
func (s *apiServer) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, secret, _ := r.BasicAuth()
	if err := r.ParseForm(); err != nil || id != "client-1" || secret != "s3cret" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client"}`)
		return
	}
	grant := r.PostForm.Get("grant_type")
	s.tokenCalls = append(s.tokenCalls, grant)
	body := map[string]any{"token_type": "Bearer", "expires_in": 3600}
	switch grant {
	case "client_credentials":
		if r.PostForm.Get("scope") != "read" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_scope"}`)
			return
		}
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != s.refreshTok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		s.refreshTok = fmt.Sprintf("refresh-%d", len(s.tokenCalls))
		body["refresh_token"] = s.refreshTok
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	tok := fmt.Sprintf("access-%d", len(s.tokenCalls))
	s.tokens[tok] = 0
	body["access_token"] = tok
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, body)
}
