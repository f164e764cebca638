package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource/sourcetest"
)

func newTestSource(t *testing.T, s *sfServer, extra map[string]any) connector.Source {
	t.Helper()
	cfg := map[string]any{"login_url": s.login.URL, "client_id": "3MVG9-key", "client_secret": "sf-secret", "poll_interval": "5ms"}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	src, err := connector.NewSource(context.Background(), "salesforce", raw)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func readAll(t *testing.T, src connector.Source, st connector.Stream, state json.RawMessage) *sourcetest.Emitter {
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

func accountIDs(rows []sourcetest.Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Values["Id"].(string))
	}
	return out
}

func wantIDs(nums ...int) []string {
	var out []string
	for _, n := range nums {
		out = append(out, fmt.Sprintf("001%012dAAA", n))
	}
	return out
}

// SOQL through the REST API: the token's instance_url is the API host,
// fields and types come from describe, pages follow nextRecordsUrl, and
// the next sync asks for SystemModstamp at or after the highest seen.
func TestSOQLIncremental(t *testing.T) {
	s := newSFServer(t, 10)
	src := newTestSource(t, s, nil)
	st := connector.Stream{Name: "Account", SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"Id"}}
	e := readAll(t, src, st, nil)
	rows := e.Rows()
	if got := accountIDs(rows); !slices.Equal(got, wantIDs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)) {
		t.Fatalf("ids = %v", got)
	}
	r := rows[3].Values
	if r["Name"] != `Acme, "4"` || r["AnnualRevenue"] != (connector.Decimal{Unscaled: 400050, Scale: 2}) || r["NumberOfEmployees"] != int64(40) ||
		r["IsDeleted"] != true || r["SystemModstamp"] != base.Add(4*time.Minute) {
		t.Errorf("row 4 = %v", r)
	}
	if names := e.Batches[0].Schema.Names(); !slices.Equal(names, []string{"Id", "Name", "AnnualRevenue", "NumberOfEmployees", "IsDeleted", "SystemModstamp"}) {
		t.Errorf("fields = %v", names)
	}
	wantQ := "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, IsDeleted, SystemModstamp FROM Account ORDER BY SystemModstamp ASC"
	if !slices.Equal(s.queries, []string{wantQ}) {
		t.Errorf("queries = %q", s.queries)
	}
	wantReqs := []string{"GET /services/data/v62.0/sobjects/Account/describe", "GET /services/data/v62.0/query",
		"GET /services/data/v62.0/query/01gRO0000016PIA001-3", "GET /services/data/v62.0/query/01gRO0000016PIA001-6", "GET /services/data/v62.0/query/01gRO0000016PIA001-9"}
	if !slices.Equal(s.requests, wantReqs) {
		t.Errorf("requests = %v", s.requests)
	}
	if got := string(e.Last()); got != `{"cursor":"2026-03-01T08:10:00.000+00:00"}` {
		t.Errorf("state = %s", got)
	}

	s.mu.Lock()
	s.accounts[2].Name, s.accounts[2].Modstamp = "Renamed", base.Add(time.Hour)
	s.queries = nil
	// The session ends: the next request is refused and a new token
	// fetched.
	s.revoked[s.tokens[len(s.tokens)-1]] = true
	s.mu.Unlock()
	e2 := readAll(t, src, st, e.Last())
	if got := accountIDs(e2.Rows()); !slices.Equal(got, wantIDs(10, 3)) {
		t.Fatalf("second sync ids = %v", got)
	}
	if want := "SELECT Id, Name, AnnualRevenue, NumberOfEmployees, IsDeleted, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-03-01T08:10:00.000Z ORDER BY SystemModstamp ASC"; !slices.Equal(s.queries, []string{want}) {
		t.Errorf("queries = %q", s.queries)
	}
	if !slices.Equal(s.grants, []string{"client_credentials", "client_credentials"}) {
		t.Errorf("grants = %v", s.grants)
	}
}

// Bulk API 2.0: one query job, polled until complete, its CSV results
// read by locator; a read stopped after every page resumes with the same
// job and the next locator and reads each record once.
func TestBulkResume(t *testing.T) {
	s := newSFServer(t, 10)
	src := newTestSource(t, s, map[string]any{"refresh_token": "5Aep-refresh", "start_date": "2026-03-01T08:02:00Z",
		"objects": []any{map[string]any{"name": "accounts", "object": "Account", "bulk": true, "fields": []string{"Id", "Name", "AnnualRevenue", "SystemModstamp"}}}})
	// Each run stops at its first checkpoint, as a process killed right
	// after each commit would, and the next resumes from it.
	st := connector.Stream{Name: "accounts", SyncMode: connector.IncrementalAppend}
	all := &sourcetest.Emitter{}
	var state json.RawMessage
	for run := 0; ; run++ {
		e := &sourcetest.Emitter{StopAfter: 1}
		req := connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: 100}
		if state != nil {
			req.State = map[string]json.RawMessage{st.Name: state}
		}
		err := src.Read(context.Background(), req, e)
		if !errors.Is(err, sourcetest.ErrStopped) || run > 10 {
			t.Fatalf("run %d: %v", run, err)
		}
		all.Batches = append(all.Batches, e.Batches...)
		state = e.Last()
		all.Checkpoints = append(all.Checkpoints, state)
		if !strings.Contains(string(state), `"custom"`) {
			break
		}
	}
	rows := all.Rows()
	if got := accountIDs(rows); !slices.Equal(got, wantIDs(2, 3, 4, 5, 6, 7, 8, 9, 10)) {
		t.Fatalf("ids = %v", got)
	}
	if r := rows[0].Values; r["Name"] != `Acme, "2"` || r["AnnualRevenue"] != (connector.Decimal{Unscaled: 200050, Scale: 2}) || r["SystemModstamp"] != base.Add(2*time.Minute) {
		t.Errorf("row = %v", r)
	}
	if len(s.jobs) != 1 {
		t.Errorf("%d jobs created, want 1", len(s.jobs))
	}
	if want := []string{"SELECT Id, Name, AnnualRevenue, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-03-01T08:02:00.000Z"}; !slices.Equal(s.queries, want) {
		t.Errorf("queries = %q", s.queries)
	}
	if !slices.Equal(s.grants, []string{"refresh_token"}) {
		t.Errorf("grants = %v", s.grants)
	}
	if got := string(all.Last()); !strings.Contains(got, `"max":"2026-03-01T08:10:00.000+00:00"`) || !strings.Contains(got, `"done":true`) {
		t.Errorf("state = %s", got)
	}
	// The next sync is a new job from the highest SystemModstamp read.
	e := readAll(t, src, st, all.Last())
	if got := accountIDs(e.Rows()); !slices.Equal(got, wantIDs(10)) || len(s.jobs) != 2 || !strings.HasSuffix(s.queries[1], "WHERE SystemModstamp >= 2026-03-01T08:10:00.000Z") {
		t.Errorf("next sync read %v with %q", got, s.queries)
	}
}

// A saved position that expired (a query locator after 15 minutes, a bulk
// job after 7 days) starts the sync again from its cursor: rows committed
// before are read again, none is lost.
func TestExpiredPositionsRestart(t *testing.T) {
	for _, bulk := range []bool{false, true} {
		t.Run(fmt.Sprintf("bulk=%v", bulk), func(t *testing.T) {
			s := newSFServer(t, 10)
			src := newTestSource(t, s, map[string]any{"objects": []any{map[string]any{"name": "Account", "bulk": bulk, "fields": []string{"Id", "SystemModstamp"}}}})
			st := connector.Stream{Name: "Account", SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"Id"}}
			e := &sourcetest.Emitter{StopAfter: 1}
			err := src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{st}, BatchSize: 100}, e)
			if !errors.Is(err, sourcetest.ErrStopped) {
				t.Fatal(err)
			}
			s.mu.Lock()
			s.expired = len(s.queries)
			clear(s.jobs)
			s.mu.Unlock()
			e2 := readAll(t, src, st, e.Last())
			if got := accountIDs(e2.Rows()); !slices.Equal(got, wantIDs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)) {
				t.Fatalf("after the restart: %v", got)
			}
			if len(s.queries) != 2 || s.queries[0] != s.queries[1] {
				t.Errorf("queries = %q", s.queries)
			}
		})
	}
}

func TestDiscoverAndCheck(t *testing.T) {
	s := newSFServer(t, 2)
	src := newTestSource(t, s, nil)
	if err := src.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat, err := src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Streams) != 1 {
		t.Fatalf("streams = %+v", cat.Streams)
	}
	a := cat.Streams[0]
	want := []connector.Field{
		{Name: "Id", Type: connector.TypeString}, {Name: "Name", Type: connector.TypeString, Nullable: true},
		{Name: "AnnualRevenue", Type: connector.TypeDecimal, Nullable: true}, {Name: "NumberOfEmployees", Type: connector.TypeInt64, Nullable: true},
		{Name: "IsDeleted", Type: connector.TypeBool, Nullable: true}, {Name: "SystemModstamp", Type: connector.TypeTimestamp, Nullable: true},
	}
	if a.Name != "Account" || !slices.Equal(a.Schema.Fields, want) || !slices.Equal(a.CursorCandidates, []string{"SystemModstamp"}) || !slices.Equal(a.PrimaryKey, []string{"Id"}) {
		t.Fatalf("stream = %+v", a)
	}
	named, err := src.(*Source).DiscoverStreams(context.Background(), []connector.Stream{{Name: "accts", Config: map[string]any{"object": "Account", "fields": []string{"Id", "Name"}}}})
	if err != nil || len(named.Streams) != 1 || !slices.Equal(named.Streams[0].Schema.Names(), []string{"Id", "Name"}) {
		t.Fatalf("DiscoverStreams = %+v, %v", named, err)
	}
	bad := newTestSource(t, s, map[string]any{"client_secret": "wrong"})
	if err := bad.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_client_id") {
		t.Fatalf("check with a wrong secret: %v", err)
	}
	_, err = src.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e := &sourcetest.Emitter{}
	err = src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "Account", Config: map[string]any{"fields": []string{"Id", "Nope"}}}}}, e)
	if err == nil || !strings.Contains(err.Error(), `stream Account: fields: Account has no queryable field "Nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSpecSecrets(t *testing.T) {
	info, _ := connector.Lookup("salesforce")
	if info.Source == nil || !slices.Equal(info.Source.Secrets, []string{"client_secret", "refresh_token"}) {
		t.Fatalf("spec = %+v", info.Source)
	}
}

func TestSOQL(t *testing.T) {
	s := &Source{}
	st := stream{StreamConfig: StreamConfig{Object: "Task", Where: "Status != 'Completed'"}, fields: []field{{"Id", connector.TypeString}, {"SystemModstamp", connector.TypeTimestamp}}}
	cases := []struct {
		cursor      string
		incremental bool
		want        string
	}{
		{"", false, "SELECT Id, SystemModstamp FROM Task WHERE (Status != 'Completed')"},
		{"2026-03-01T08:10:00.5+01:00", true, "SELECT Id, SystemModstamp FROM Task WHERE (Status != 'Completed') AND SystemModstamp >= 2026-03-01T07:10:00.500Z ORDER BY SystemModstamp ASC"},
	}
	for _, c := range cases {
		if got := s.soql(st, c.cursor, c.incremental); got != c.want {
			t.Errorf("soql(%q) = %s\nwant %s", c.cursor, got, c.want)
		}
	}
}
