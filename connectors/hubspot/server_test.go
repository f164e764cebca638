package hubspot

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hsServer follows the request and response shapes of the HubSpot
// documentation pages listed in docs/connectors/hubspot.md: CRM v3 object
// list and search, the properties API, v4 association batch reads and the
// OAuth v1 token endpoint.
type hsServer struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	contacts []contact
	// cap is the search endpoint's paging limit (10,000 at HubSpot).
	cap      int
	requests []string
	bodies   []map[string]any
	tokens   map[string]bool
	refresh  string
	grants   int
}

type contact struct {
	ID        string
	Email     string
	Employees string
	Modified  time.Time
	Companies []int64
}

var base = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func newHSServer(t *testing.T, n int) *hsServer {
	s := &hsServer{t: t, cap: 10000, tokens: map[string]bool{"pat-na1-test": true}, refresh: "r-0"}
	for i := 1; i <= n; i++ {
		emp := strconv.Itoa(i * 5)
		if i == 2 {
			emp = ""
		}
		s.contacts = append(s.contacts, contact{ID: strconv.Itoa(100 + i), Email: fmt.Sprintf("p%d@example.com", i), Employees: emp,
			Modified: base.Add(time.Duration(i) * time.Hour), Companies: []int64{int64(900 + i%3)}})
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (c contact) json(props []string, assoc bool) map[string]any {
	p := map[string]any{"hs_object_id": c.ID}
	for _, name := range props {
		switch name {
		case "email":
			p[name] = c.Email
		case "numemployees":
			p[name] = c.Employees
		case "lastmodifieddate":
			p[name] = c.Modified.Format("2006-01-02T15:04:05.000Z")
		case "createdate":
			p[name] = base.Format("2006-01-02T15:04:05.000Z")
		}
	}
	out := map[string]any{"id": c.ID, "properties": p, "createdAt": base.Format("2006-01-02T15:04:05.000Z"),
		"updatedAt": c.Modified.Format("2006-01-02T15:04:05.000Z"), "archived": false}
	if assoc {
		var rs []any
		for _, id := range c.Companies {
			// The list endpoint lists an association once per type.
			rs = append(rs, map[string]any{"id": strconv.FormatInt(id, 10), "type": "contact_to_company"},
				map[string]any{"id": strconv.FormatInt(id, 10), "type": "contact_to_company_unlabeled"})
		}
		out["associations"] = map[string]any{"companies": map[string]any{"results": rs}}
	}
	return out
}

func (s *hsServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if r.URL.Path == "/oauth/v1/token" {
		r.ParseForm()
		f := r.PostForm
		if f.Get("grant_type") != "refresh_token" || f.Get("client_id") != "app-1" || f.Get("client_secret") != "app-secret" || f.Get("refresh_token") != s.refresh {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}`)
			return
		}
		s.grants++
		tok := fmt.Sprintf("CJT-%d", s.grants)
		s.tokens[tok] = true
		json.NewEncoder(w).Encode(map[string]any{"token_type": "bearer", "refresh_token": s.refresh, "access_token": tok, "expires_in": 1800})
		return
	}
	if !s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}`)
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.bodies = append(s.bodies, body)
	}
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+query(r))
	switch p := r.URL.Path; {
	case p == "/crm/v3/properties/contacts":
		fmt.Fprint(w, `{"results":[
			{"name":"lastmodifieddate","label":"Last Modified Date","type":"datetime","fieldType":"date"},
			{"name":"email","label":"Email","type":"string","fieldType":"text"},
			{"name":"numemployees","label":"Number of Employees","type":"number","fieldType":"number"},
			{"name":"createdate","label":"Create Date","type":"datetime","fieldType":"date"}]}`)
	case p == "/crm/v3/objects/contacts":
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		from := 0
		if a := q.Get("after"); a != "" {
			id, _ := strconv.Atoi(a)
			from = id - 101
		}
		to := min(from+limit, len(s.contacts))
		var res []any
		for _, c := range s.contacts[from:to] {
			res = append(res, c.json(strings.Split(q.Get("properties"), ","), q.Get("associations") == "companies"))
		}
		out := map[string]any{"results": res}
		if to < len(s.contacts) {
			after := strconv.Itoa(101 + to)
			out["paging"] = map[string]any{"next": map[string]any{"after": after, "link": s.URL + "/crm/v3/objects/contacts?after=" + after}}
		}
		json.NewEncoder(w).Encode(out)
	case p == "/crm/v3/objects/contacts/search":
		s.search(w, body)
	case p == "/crm/v4/associations/contacts/companies/batch/read":
		var res []any
		for _, in := range body["inputs"].([]any) {
			id := in.(map[string]any)["id"].(string)
			for _, c := range s.contacts {
				if c.ID != id {
					continue
				}
				var to []any
				for _, co := range c.Companies {
					to = append(to, map[string]any{"toObjectId": co, "associationTypes": []any{map[string]any{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}}})
				}
				res = append(res, map[string]any{"from": map[string]any{"id": id}, "to": to})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "COMPLETE", "results": res, "startedAt": "2026-02-01T00:00:00Z", "completedAt": "2026-02-01T00:00:01Z"})
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"status":"error","message":"resource not found"}`)
	}
}

// search filters on lastmodifieddate GTE a millisecond epoch, sorts
// ascending, and refuses to page to the cap.
func (s *hsServer) search(w http.ResponseWriter, body map[string]any) {
	var since time.Time
	if fg, ok := body["filterGroups"].([]any); ok {
		f := fg[0].(map[string]any)["filters"].([]any)[0].(map[string]any)
		if f["propertyName"] != "lastmodifieddate" || f["operator"] != "GTE" {
			s.t.Errorf("filter = %v", f)
		}
		ms, _ := strconv.ParseInt(f["value"].(string), 10, 64)
		since = time.UnixMilli(ms).UTC()
	}
	sorts := body["sorts"].([]any)
	if s0 := sorts[0].(map[string]any); s0["propertyName"] != "lastmodifieddate" || s0["direction"] != "ASCENDING" {
		s.t.Errorf("sorts = %v", sorts)
	}
	limit := int(body["limit"].(float64))
	after := 0
	if a, ok := body["after"].(string); ok {
		after, _ = strconv.Atoi(a)
	}
	if after+limit > s.cap {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"error","message":"There was a problem with the request.","category":"VALIDATION_ERROR"}`)
		return
	}
	var props []string
	for _, p := range body["properties"].([]any) {
		props = append(props, p.(string))
	}
	var hits []contact
	for _, c := range s.contacts {
		if !c.Modified.Before(since) {
			hits = append(hits, c)
		}
	}
	slices.SortStableFunc(hits, func(a, b contact) int { return a.Modified.Compare(b.Modified) })
	to := min(after+limit, len(hits))
	var res []any
	for _, c := range hits[min(after, len(hits)):to] {
		res = append(res, c.json(props, false))
	}
	out := map[string]any{"total": len(hits), "results": res}
	if to < len(hits) {
		out["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(to)}}
	}
	json.NewEncoder(w).Encode(out)
}

func query(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.Query().Encode()
}
