package salesforce

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sfServer follows the request and response shapes of the Salesforce
// documentation pages listed in docs/connectors/salesforce.md: the OAuth
// 2.0 token endpoint (a login host whose token names the instance), the
// REST API query resource with nextRecordsUrl, sObject describe, and Bulk
// API 2.0 query jobs with Sforce-Locator paging.
type sfServer struct {
	login, instance *httptest.Server
	t               *testing.T

	mu       sync.Mutex
	accounts []account
	queries  []string // SOQL of every query and job
	requests []string
	jobs     map[string]*job
	tokens   []string
	revoked  map[string]bool
	grants   []string
	// expired is how many queries' locators answer INVALID_QUERY_LOCATOR.
	expired int
}

type account struct {
	ID        string
	Name      string
	Revenue   string
	Employees int
	Deleted   bool
	Modstamp  time.Time
}

type job struct {
	soql  string
	polls int
	rows  []account
}

var base = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func newSFServer(t *testing.T, n int) *sfServer {
	s := &sfServer{t: t, jobs: map[string]*job{}, revoked: map[string]bool{}}
	for i := 1; i <= n; i++ {
		s.accounts = append(s.accounts, account{
			ID: fmt.Sprintf("001%012dAAA", i), Name: fmt.Sprintf("Acme, \"%d\"", i), Revenue: fmt.Sprintf("%d000.50", i),
			Employees: i * 10, Deleted: i%4 == 0, Modstamp: base.Add(time.Duration(i) * time.Minute),
		})
	}
	s.instance = httptest.NewServer(http.HandlerFunc(s.api))
	s.login = httptest.NewServer(http.HandlerFunc(s.token))
	t.Cleanup(s.instance.Close)
	t.Cleanup(s.login.Close)
	return s
}

// token implements the client credentials and refresh token flows:
// client id and secret in the form, instance_url in the answer, no
// expires_in (a session lasts until it times out or is revoked).
func (s *sfServer) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != "/services/oauth2/token" || r.ParseForm() != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	f := r.PostForm
	if f.Get("client_id") != "3MVG9-key" || f.Get("client_secret") != "sf-secret" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_client_id","error_description":"client identifier invalid"}`)
		return
	}
	grant := f.Get("grant_type")
	if grant == "refresh_token" && f.Get("refresh_token") != "5Aep-refresh" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"expired access/refresh token"}`)
		return
	}
	s.grants = append(s.grants, grant)
	tok := fmt.Sprintf("00Dxx0000001gPL!AR8AQ-%d", len(s.grants))
	s.tokens = append(s.tokens, tok)
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "instance_url": s.instance.URL, "id": s.login.URL + "/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
		"token_type": "Bearer", "issued_at": strconv.FormatInt(time.Now().UnixMilli(), 10), "signature": "CMJ4l+CCaPQiKjoOEwEig9H4wqhpuLSk4J2urAe+fVg=",
	})
}

var soqlRe = regexp.MustCompile(`^SELECT (.+) FROM (\w+)(?: WHERE SystemModstamp >= (\S+))?( ORDER BY SystemModstamp ASC)?$`)

func (s *sfServer) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	known := false
	for _, t := range s.tokens {
		known = known || t == tok
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if !known || s.revoked[tok] {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`)
		return
	}
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	const v = "/services/data/v62.0"
	p := r.URL.Path
	switch {
	case p == v+"/limits":
		fmt.Fprint(w, `{"DailyApiRequests":{"Max":15000,"Remaining":14998}}`)
	case p == v+"/sobjects":
		fmt.Fprint(w, `{"encoding":"UTF-8","maxBatchSize":200,"sobjects":[{"name":"Account","queryable":true},{"name":"AccountHistory","queryable":false}]}`)
	case p == v+"/sobjects/Account/describe":
		fmt.Fprint(w, `{"name":"Account","fields":[{"name":"Id","type":"id"},{"name":"Name","type":"string"},{"name":"AnnualRevenue","type":"currency"},{"name":"NumberOfEmployees","type":"int"},{"name":"IsDeleted","type":"boolean"},{"name":"BillingAddress","type":"address"},{"name":"SystemModstamp","type":"datetime"}]}`)
	case p == v+"/query":
		rows, ok := s.run(w, r.URL.Query().Get("q"))
		if ok {
			s.page(w, rows, 0, fmt.Sprintf("01gRO0000016PIA%03d", len(s.queries)))
		}
	case strings.HasPrefix(p, v+"/query/"):
		// nextRecordsUrl: /services/data/v62.0/query/<locator>-<offset>
		if n, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(strings.TrimPrefix(p, v+"/query/"), "-")[0], "01gRO0000016PIA")); n <= s.expired {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `[{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}]`)
			return
		}
		loc, off, _ := strings.Cut(strings.TrimPrefix(p, v+"/query/"), "-")
		n, _ := strconv.Atoi(off)
		rows, _ := s.select_(s.queries[len(s.queries)-1])
		s.page(w, rows, n, loc)
	case p == v+"/jobs/query" && r.Method == http.MethodPost:
		var body struct{ Operation, Query string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Operation != "query" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `[{"errorCode":"INVALIDJOB","message":"bad job"}]`)
			return
		}
		rows, ok := s.run(w, body.Query)
		if !ok {
			return
		}
		id := fmt.Sprintf("750R0000000zlh%dIAA", len(s.jobs)+1)
		s.jobs[id] = &job{soql: body.Query, rows: rows}
		fmt.Fprintf(w, `{"id":%q,"operation":"query","object":"Account","state":"UploadComplete","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":62.0,"lineEnding":"LF","columnDelimiter":"COMMA"}`, id)
	case strings.HasPrefix(p, v+"/jobs/query/"):
		rest := strings.TrimPrefix(p, v+"/jobs/query/")
		id, results := strings.CutSuffix(rest, "/results")
		j := s.jobs[id]
		if j == nil {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`)
			return
		}
		if !results {
			j.polls++
			state := "InProgress"
			if j.polls > 1 {
				state = "JobComplete"
			}
			fmt.Fprintf(w, `{"id":%q,"operation":"query","state":%q,"numberRecordsProcessed":%d}`, id, state, len(j.rows))
			return
		}
		if r.Header.Get("Accept") != "text/csv" {
			s.t.Errorf("results asked with Accept %q", r.Header.Get("Accept"))
		}
		from, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("locator"), "MTAw"))
		to := min(from+4, len(j.rows))
		next := "null"
		if to < len(j.rows) {
			next = "MTAw" + strconv.Itoa(to)
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Sforce-Locator", next)
		w.Header().Set("Sforce-NumberOfRecords", strconv.Itoa(to-from))
		cw := csv.NewWriter(w)
		cw.Write(s.fieldsOf(j.soql))
		for _, a := range j.rows[from:to] {
			cw.Write(a.values(s.fieldsOf(j.soql)))
		}
		cw.Flush()
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`)
	}
}

func (s *sfServer) fieldsOf(q string) []string {
	m := soqlRe.FindStringSubmatch(q)
	return strings.Split(m[1], ", ")
}

func (s *sfServer) run(w http.ResponseWriter, q string) ([]account, bool) {
	s.queries = append(s.queries, q)
	rows, err := s.select_(q)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `[{"message":%q,"errorCode":"MALFORMED_QUERY"}]`, err.Error())
		return nil, false
	}
	return rows, true
}

func (s *sfServer) select_(q string) ([]account, error) {
	m := soqlRe.FindStringSubmatch(q)
	if m == nil || m[2] != "Account" {
		return nil, fmt.Errorf("unexpected query %q", q)
	}
	var since time.Time
	if m[3] != "" {
		t, err := time.Parse("2006-01-02T15:04:05.000Z", m[3])
		if err != nil {
			return nil, fmt.Errorf("bad datetime literal %q", m[3])
		}
		since = t
	}
	var out []account
	for _, a := range s.accounts {
		if !a.Modstamp.Before(since) {
			out = append(out, a)
		}
	}
	if m[4] != "" {
		for i := 1; i < len(out); i++ {
			for j := i; j > 0 && out[j].Modstamp.Before(out[j-1].Modstamp); j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
	}
	return out, nil
}

// page writes query results 3 records at a time, as a query locator does.
func (s *sfServer) page(w http.ResponseWriter, rows []account, from int, loc string) {
	to := min(from+3, len(rows))
	fields := s.fieldsOf(s.queries[len(s.queries)-1])
	// Records list their fields in the query's order, after attributes.
	recs := []json.RawMessage{}
	for _, a := range rows[from:to] {
		var b strings.Builder
		fmt.Fprintf(&b, `{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/%s"}`, a.ID)
		for _, f := range fields {
			v, _ := json.Marshal(a.json(f))
			fmt.Fprintf(&b, ",%q:%s", f, v)
		}
		b.WriteString("}")
		recs = append(recs, json.RawMessage(b.String()))
	}
	body := map[string]any{"totalSize": len(rows), "done": to >= len(rows), "records": recs}
	if to < len(rows) {
		body["nextRecordsUrl"] = fmt.Sprintf("/services/data/v62.0/query/%s-%d", loc, to)
	}
	json.NewEncoder(w).Encode(body)
}

func (a account) json(f string) any {
	switch f {
	case "Id":
		return a.ID
	case "Name":
		return a.Name
	case "AnnualRevenue":
		return json.Number(a.Revenue)
	case "NumberOfEmployees":
		return a.Employees
	case "IsDeleted":
		return a.Deleted
	case "SystemModstamp":
		return a.Modstamp.Format("2006-01-02T15:04:05.000+0000")
	}
	return nil
}

func (a account) values(fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		switch v := a.json(f).(type) {
		case string:
			out[i] = v
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}
