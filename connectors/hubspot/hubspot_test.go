package hubspot

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

func newTestSource(t *testing.T, srv *hsServer, extra map[string]any) *Source {
	t.Helper()
	cfg := map[string]any{"base_url": srv.URL, "access_token": "pat-na1-test", "page_size": 3}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	src, err := connector.NewSource(context.Background(), "hubspot", raw)
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source)
}

func read(t *testing.T, src connector.Source, st connector.Stream, state json.RawMessage) *sourcetest.Emitter {
	t.Helper()
	e := &sourcetest.Emitter{}
	req := connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: 100}
	if state != nil {
		req.State = map[string]json.RawMessage{st.Name: state}
	}
	if err := src.Read(context.Background(), req, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func contactIDs(e *sourcetest.Emitter) []string {
	var out []string
	for _, r := range e.Rows() {
		out = append(out, r.Values["id"].(string))
	}
	return out
}

func idRange(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(100+i))
	}
	return out
}

// A full refresh lists contacts with `after` paging, their properties
// flattened and typed by the properties API, and their associated
// companies.
func TestListWithAssociations(t *testing.T) {
	srv := newHSServer(t, 7)
	src := newTestSource(t, srv, nil)
	e := read(t, src, connector.Stream{Name: "contacts", Config: map[string]any{"associations": []string{"companies"}}}, nil)
	if got := contactIDs(e); !slices.Equal(got, idRange(1, 7)) {
		t.Fatalf("ids = %v", got)
	}
	rows := e.Rows()
	r := rows[3].Values
	if r["email"] != "p4@example.com" || r["numemployees"] != (connector.Decimal{Unscaled: 20}) || r["lastmodifieddate"] != base.Add(4*time.Hour) ||
		r["updatedAt"] != base.Add(4*time.Hour) || r["archived"] != false || !reflect.DeepEqual(r["associations"], map[string]any{"companies": []any{"901"}}) {
		t.Errorf("row 4 = %v", r)
	}
	if rows[1].Values["numemployees"] != nil {
		t.Errorf("an empty number is %v, want null", rows[1].Values["numemployees"])
	}
	if names := e.Batches[0].Schema.Names(); !slices.Equal(names, []string{"id", "createdate", "email", "lastmodifieddate", "numemployees", "createdAt", "updatedAt", "archived", "associations"}) {
		t.Errorf("fields = %v", names)
	}
	want := []string{
		"GET /crm/v3/properties/contacts",
		"GET /crm/v3/objects/contacts?archived=false&associations=companies&limit=3&properties=createdate%2Cemail%2Clastmodifieddate%2Cnumemployees",
		"GET /crm/v3/objects/contacts?after=104&archived=false&associations=companies&limit=3&properties=createdate%2Cemail%2Clastmodifieddate%2Cnumemployees",
		"GET /crm/v3/objects/contacts?after=107&archived=false&associations=companies&limit=3&properties=createdate%2Cemail%2Clastmodifieddate%2Cnumemployees",
	}
	if !slices.Equal(srv.requests, want) {
		t.Errorf("requests =\n%s", strings.Join(srv.requests, "\n"))
	}
}

// Incremental syncs search on lastmodifieddate, oldest first; before the
// search's paging limit the search starts again from the last record's
// time; associations come from the v4 batch read; a stopped sync resumes
// where it stopped; the next sync asks only for what changed since.
func TestSearchIncremental(t *testing.T) {
	srv := newHSServer(t, 7)
	srv.cap = 4
	srv.tokens = map[string]bool{}
	src := newTestSource(t, srv, map[string]any{"access_token": "", "client_id": "app-1", "client_secret": "app-secret", "refresh_token": "r-0",
		"page_size": 2, "start_date": "2026-02-01T02:00:00Z"})
	src.limit = 4
	st := connector.Stream{Name: "contacts", SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"id"}, Config: map[string]any{
		"properties": []string{"email", "lastmodifieddate"}, "associations": []string{"companies"}}}
	all := sourcetest.ReadInPieces(t, src, st, 100, 1)
	// 2..7 in order; the restart at the paging limit reads its boundary
	// record (5) again, and so does each sync after the last (7): the
	// filter is "at or after", so a record modified in the same
	// millisecond as the last one read is never missed.
	if got := contactIDs(all); !slices.Equal(got, []string{"102", "103", "104", "105", "105", "106", "107", "107", "107"}) {
		t.Fatalf("ids = %v", got)
	}
	r := all.Rows()[0].Values
	if r["email"] != "p2@example.com" || !reflect.DeepEqual(r["associations"], map[string]any{"companies": []any{"902"}}) || len(r) != 7 {
		t.Errorf("row = %v", r)
	}
	var filters []string
	for _, b := range srv.bodies {
		if fg, ok := b["filterGroups"].([]any); ok {
			v := fg[0].(map[string]any)["filters"].([]any)[0].(map[string]any)["value"].(string)
			after, _ := b["after"].(string)
			filters = append(filters, v+"/"+after)
		}
	}
	ms := func(h int) string { return strconv.FormatInt(base.Add(time.Duration(h)*time.Hour).UnixMilli(), 10) }
	if want := []string{ms(2) + "/", ms(2) + "/2", ms(5) + "/", ms(5) + "/2", ms(7) + "/", ms(7) + "/"}; !slices.Equal(filters, want) {
		t.Errorf("searches = %v, want %v", filters, want)
	}
	if srv.grants != 1 {
		t.Errorf("%d token grants", srv.grants)
	}

	srv.mu.Lock()
	srv.contacts[0].Modified = base.Add(10 * time.Hour)
	srv.mu.Unlock()
	e := read(t, src, st, all.Last())
	if got := contactIDs(e); !slices.Equal(got, []string{"107", "101"}) {
		t.Fatalf("next sync ids = %v", got)
	}
}

func TestDiscoverAndErrors(t *testing.T) {
	srv := newHSServer(t, 2)
	src := newTestSource(t, srv, map[string]any{"objects": []any{map[string]any{"name": "contacts"}}})
	if err := src.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := cat.Find("contacts")
	if c == nil || !slices.Equal(c.Schema.Names(), []string{"id", "createdate", "email", "lastmodifieddate", "numemployees", "createdAt", "updatedAt", "archived"}) ||
		c.Schema.Fields[4].Type != connector.TypeDecimal || !slices.Equal(c.PrimaryKey, []string{"id"}) {
		t.Fatalf("contacts = %+v", c)
	}
	named, err := src.DiscoverStreams(context.Background(), []connector.Stream{{Name: "people", Config: map[string]any{"object": "contacts", "properties": []string{"email"}}}})
	if err != nil || !slices.Equal(named.Streams[0].Schema.Names(), []string{"id", "email", "createdAt", "updatedAt", "archived"}) {
		t.Fatalf("DiscoverStreams = %+v, %v", named, err)
	}
	bad := newTestSource(t, srv, map[string]any{"access_token": "wrong"})
	if err := bad.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "INVALID_AUTHENTICATION") {
		t.Fatalf("check: %v", err)
	}
	err = src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "contacts", Config: map[string]any{"properties": []string{"nope"}}}}}, &sourcetest.Emitter{})
	if err == nil || !strings.Contains(err.Error(), `stream contacts: properties: contacts has no property "nope"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = connector.NewSource(context.Background(), "hubspot", json.RawMessage(`{"refresh_token":"x"}`))
	if err == nil || !strings.Contains(err.Error(), "client_id, client_secret: are required with refresh_token") {
		t.Fatalf("err = %v", err)
	}
	info, _ := connector.Lookup("hubspot")
	if !slices.Equal(info.Source.Secrets, []string{"access_token", "client_secret", "refresh_token"}) {
		t.Errorf("secrets = %v", info.Source.Secrets)
	}
}
