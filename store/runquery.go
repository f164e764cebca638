package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RunSort orders a list of runs.
type RunSort string

// The orders of run lists; a leading minus means descending.
const (
	SortNewest   RunSort = "-created_at"
	SortOldest   RunSort = "created_at"
	SortLongest  RunSort = "-duration"
	SortShortest RunSort = "duration"
)

// RunSorts lists every valid [RunSort].
var RunSorts = []RunSort{SortNewest, SortOldest, SortLongest, SortShortest}

// RunFilter selects runs; zero fields select everything.
type RunFilter struct {
	PipelineID string
	// Statuses keeps runs with any of these statuses.
	Statuses []RunStatus
	Trigger  Trigger
	// CreatedFrom and CreatedTo bound created_at: from inclusive, to
	// exclusive.
	CreatedFrom, CreatedTo time.Time
	// Sort is [SortNewest] when empty. Runs not finished have no
	// duration and come last in both duration orders.
	Sort RunSort
}

// runQuery builds the WHERE clause (with its leading space), its
// arguments and the ORDER BY of f.
func (s *sqlStore) runQuery(f RunFilter) (string, []any, string, error) {
	var conds []string
	var args []any
	if f.PipelineID != "" {
		conds, args = append(conds, "pipeline_id = ?"), append(args, f.PipelineID)
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.Trigger != "" {
		conds, args = append(conds, "triggered_by = ?"), append(args, f.Trigger)
	}
	if !f.CreatedFrom.IsZero() {
		conds, args = append(conds, "created_at >= ?"), append(args, f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, f.CreatedTo.UTC())
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var order string
	switch f.Sort {
	case "", SortNewest:
		order = "created_at DESC, id"
	case SortOldest:
		order = "created_at, id"
	case SortLongest:
		order = s.durationExpr() + " DESC NULLS LAST, created_at DESC, id"
	case SortShortest:
		order = s.durationExpr() + " NULLS LAST, created_at DESC, id"
	default:
		return "", nil, "", fmt.Errorf("sort %q: want one of %v", f.Sort, RunSorts)
	}
	return where, args, order, nil
}

// durationExpr is a run's duration in seconds, NULL until it finished.
// SQLite keeps times as text ("2006-01-02 15:04:05.999999 +0000 UTC", always
// UTC here), which julianday reads once the zone is cut off.
func (s *sqlStore) durationExpr() string {
	if s.postgres {
		return "EXTRACT(EPOCH FROM (finished_at - started_at))"
	}
	cut := func(col string) string {
		return "julianday(substr(" + col + ", 1, instr(" + col + ", ' +') - 1))"
	}
	return "((" + cut("finished_at") + " - " + cut("started_at") + ") * 86400)"
}

func (s *sqlStore) RunLogsAfter(ctx context.Context, runID string, afterID int64, limit int) ([]RunLog, error) {
	limit = Page{Limit: limit}.norm().Limit
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, run_id, at, level, message FROM run_logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`), runID, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RunLog{}
	for rows.Next() {
		var l RunLog
		if err := rows.Scan(&l.ID, &l.RunID, &l.At, &l.Level, &l.Message); err != nil {
			return nil, err
		}
		l.At = l.At.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// RunRow is a run as lists show it: its stored result is left out (Result
// and LeaseUntil are nil) and only the per-stream counts are kept.
type RunRow struct {
	Run
	// Streams are the counts of the result's streams in their order;
	// nil while the run has no result.
	Streams []StreamCount
}

// StreamCount is one stream's row counts in a run.
type StreamCount struct {
	Name         string `json:"name"`
	Read         int64  `json:"read"`
	Written      int64  `json:"written"`
	Quarantined  int64  `json:"quarantined"`
	Filtered     int64  `json:"filtered"`
	Deduplicated int64  `json:"deduplicated"`
}

// runRowCols reads the lean streams column instead of the result, which
// holds profiles and check results and is many times larger.
const runRowCols = `id, pipeline_id, version, status, full_refresh, triggered_by, error, streams, attempts, `

// runRowTimes are the times of a list row. SQLite keeps times as text, and
// its driver parses each by trying layouts; read as text (a cast has no
// declared type) they go to [parseStoredTime], which knows the one layout
// written. That took a tenth of a list's CPU time.
func (s *sqlStore) runRowTimes() string {
	if s.postgres {
		return `created_at, started_at, finished_at`
	}
	return `CAST(created_at AS TEXT), CAST(started_at AS TEXT), CAST(finished_at AS TEXT)`
}

func (s *sqlStore) RunList(ctx context.Context, f RunFilter, page Page) ([]RunRow, error) {
	page = page.norm()
	where, args, order, err := s.runQuery(f)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT `+runRowCols+s.runRowTimes()+` FROM runs`+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, page.Limit, page.Offset)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]RunRow, 0, page.Limit)
	var streams sql.RawBytes
	// PostgreSQL's times scan as times, SQLite's as text.
	var started, finished sql.NullTime
	var created, startedText, finishedText sql.RawBytes
	// Every row scans into r, so the destinations are made once.
	var r RunRow
	dest := []any{&r.ID, &r.PipelineID, &r.Version, &r.Status, &r.FullRefresh, &r.Trigger, &r.Error, &streams, &r.Attempts}
	if s.postgres {
		dest = append(dest, &r.CreatedAt, &started, &finished)
	} else {
		dest = append(dest, &created, &startedText, &finishedText)
	}
	for rows.Next() {
		r = RunRow{}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if !s.postgres {
			if r.CreatedAt, err = parseStoredTime(created); err == nil {
				if started, err = parseNullStoredTime(startedText); err == nil {
					finished, err = parseNullStoredTime(finishedText)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", r.ID, err)
			}
		}
		r.CreatedAt = r.CreatedAt.UTC()
		r.StartedAt, r.FinishedAt = timePtr(started), timePtr(finished)
		if streams != nil {
			if r.Streams, err = parseStreamCounts(streams); err != nil {
				return nil, fmt.Errorf("run %s stream counts: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// storedTimeLayout is how the SQLite driver writes times: time.Time's
// String without the monotonic clock.
const storedTimeLayout = "2006-01-02 15:04:05.999999999 -0700 MST"

// parseStoredTime reads a time as the SQLite driver writes it. Times the
// store writes are UTC, which has a fast path; others go to time.Parse.
func parseStoredTime(b []byte) (time.Time, error) {
	const utc = " +0000 UTC"
	n := len(b) - len(utc)
	if n >= 19 && n <= 29 && string(b[n:]) == utc && b[4] == '-' && b[7] == '-' && b[10] == ' ' && b[13] == ':' && b[16] == ':' {
		ok := true
		num := func(i, j int) int {
			v := 0
			for _, c := range b[i:j] {
				if c < '0' || c > '9' {
					ok = false
				}
				v = v*10 + int(c-'0')
			}
			return v
		}
		year, month, day := num(0, 4), num(5, 7), num(8, 10)
		hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
		ns := 0
		if n > 19 {
			if b[19] != '.' || n == 20 {
				ok = false
			} else {
				ns = num(20, n)
				for range 29 - n {
					ns *= 10
				}
			}
		}
		if ok && month >= 1 && month <= 12 && hour < 24 && minute < 60 && sec < 60 {
			t := time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC)
			if t.Day() == day {
				return t, nil
			}
		}
	}
	for _, layout := range storedTimeLayouts {
		if t, err := time.Parse(layout, string(b)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("stored time %q: want a time like %q", b, storedTimeLayout)
}

// storedTimeLayouts are the layouts the SQLite driver reads, for times
// written otherwise than by the driver (SQL's datetime functions).
var storedTimeLayouts = []string{
	storedTimeLayout,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

func parseNullStoredTime(b []byte) (sql.NullTime, error) {
	if b == nil {
		return sql.NullTime{}, nil
	}
	t, err := parseStoredTime(b)
	return sql.NullTime{Time: t, Valid: err == nil}, err
}

// runStreamsMigration adds runs.streams, the per-stream counts of
// runs.result, for run lists. Triggers keep it in step with every
// statement that writes result (progress, outcome, rescue), so no writer
// has to know of it; the last statement fills it for existing runs.
var runStreamsMigration = migration{
	sqlite: []string{
		`ALTER TABLE runs ADD COLUMN streams TEXT`,
		`CREATE TRIGGER runs_streams_insert AFTER INSERT ON runs WHEN NEW.result IS NOT NULL BEGIN
			UPDATE runs SET streams = ` + sqliteStreams("NEW.result") + ` WHERE rowid = NEW.rowid;
		END`,
		`CREATE TRIGGER runs_streams_update AFTER UPDATE OF result ON runs WHEN NEW.result IS NOT OLD.result BEGIN
			UPDATE runs SET streams = ` + sqliteStreams("NEW.result") + ` WHERE rowid = NEW.rowid;
		END`,
		`UPDATE runs SET streams = ` + sqliteStreams("result") + ` WHERE result IS NOT NULL`,
	},
	postgres: []string{
		`ALTER TABLE runs ADD COLUMN streams JSONB`,
		// The expression is spelled out in the function rather than in a
		// function of its own, whose name would be looked up in the
		// search_path of whoever writes a run.
		`CREATE FUNCTION runs_set_streams() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			NEW.streams := ` + pgStreams("NEW.result") + `;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER runs_streams BEFORE INSERT OR UPDATE OF result ON runs FOR EACH ROW EXECUTE FUNCTION runs_set_streams()`,
		`UPDATE runs SET streams = ` + pgStreams("result") + ` WHERE result IS NOT NULL`,
	},
}

// streamCountFields are the fields of a stream's counts in lists.
var streamCountFields = []string{"read", "written", "quarantined", "filtered", "deduplicated"}

// sqliteStreams is the JSON array of per-stream counts of the result in
// col: NULL for no result or one that is not JSON (a write must not fail
// over it), [] without streams. Entries that are not objects are skipped
// and fields of another type read as "" or 0, fractions are cut to
// integers (the engine writes none of these). It keeps to functions of SQLite 3.9 (json_each walks the array in
// order), so older sqlite3 shells still open the store.
func sqliteStreams(col string) string {
	fields := `'name', CASE json_type(s.value, '$.name') WHEN 'text' THEN json_extract(s.value, '$.name') ELSE '' END`
	for _, f := range streamCountFields {
		fields += `, '` + f + `', CASE WHEN json_type(s.value, '$.` + f + `') IN ('integer', 'real') THEN CAST(json_extract(s.value, '$.` + f + `') AS INTEGER) ELSE 0 END`
	}
	return `(CASE WHEN json_valid(` + col + `) THEN (SELECT json_group_array(json_object(` + fields + `))
		FROM json_each(` + col + `, '$.streams') s WHERE s.type = 'object') END)`
}

// pgStreams is [sqliteStreams] for PostgreSQL's JSONB result.
func pgStreams(col string) string {
	fields := `'name', CASE WHEN jsonb_typeof(s->'name') = 'string' THEN s->'name' ELSE '""' END`
	for _, f := range streamCountFields {
		fields += `, '` + f + `', CASE WHEN jsonb_typeof(s->'` + f + `') = 'number' THEN to_jsonb(trunc((s->>'` + f + `')::numeric)) ELSE '0' END`
	}
	return `(CASE WHEN jsonb_typeof(` + col + `->'streams') = 'array' THEN (SELECT COALESCE(jsonb_agg(jsonb_build_object(` + fields + `) ORDER BY i), '[]')
		FROM jsonb_array_elements(` + col + `->'streams') WITH ORDINALITY AS t(s, i) WHERE jsonb_typeof(s) = 'object') END)`
}

// parseStreamCounts reads the streams column, which the store writes
// itself (see [sqliteStreams] and [pgStreams]): an array of flat objects
// of a string and five integers. Read by hand it costs a small part of
// what encoding/json takes, which decodes anything less plain (escaped
// names, numbers too long).
func parseStreamCounts(b []byte) ([]StreamCount, error) {
	if out, ok := scanStreamCounts(b); ok {
		return out, nil
	}
	out := []StreamCount{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func scanStreamCounts(b []byte) ([]StreamCount, bool) {
	c := &countScanner{b: b}
	if !c.eat('[') {
		return nil, false
	}
	out := []StreamCount{}
	if c.eat(']') {
		return out, c.end()
	}
	for {
		if !c.eat('{') {
			return nil, false
		}
		var sc StreamCount
		for {
			key, ok := c.str()
			if !ok || !c.eat(':') {
				return nil, false
			}
			switch string(key) {
			case "name":
				var name []byte
				name, ok = c.str()
				sc.Name = string(name)
			case "read":
				sc.Read, ok = c.int()
			case "written":
				sc.Written, ok = c.int()
			case "quarantined":
				sc.Quarantined, ok = c.int()
			case "filtered":
				sc.Filtered, ok = c.int()
			case "deduplicated":
				sc.Deduplicated, ok = c.int()
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
			if c.eat('}') {
				break
			}
			if !c.eat(',') {
				return nil, false
			}
		}
		out = append(out, sc)
		if c.eat(']') {
			return out, c.end()
		}
		if !c.eat(',') {
			return nil, false
		}
	}
}

// countScanner reads the plain JSON of [scanStreamCounts]; each method
// reports false for anything else.
type countScanner struct {
	b []byte
	i int
}

func (c *countScanner) space() {
	for c.i < len(c.b) && (c.b[c.i] == ' ' || c.b[c.i] == '\n' || c.b[c.i] == '\t' || c.b[c.i] == '\r') {
		c.i++
	}
}

func (c *countScanner) eat(ch byte) bool {
	c.space()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

func (c *countScanner) end() bool {
	c.space()
	return c.i == len(c.b)
}

// str reads a string without escapes.
func (c *countScanner) str() ([]byte, bool) {
	if !c.eat('"') {
		return nil, false
	}
	for start := c.i; c.i < len(c.b); c.i++ {
		switch ch := c.b[c.i]; {
		case ch == '"':
			c.i++
			return c.b[start : c.i-1], true
		case ch == '\\' || ch < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// int reads an integer of at most 18 digits, which cannot overflow.
func (c *countScanner) int() (int64, bool) {
	c.space()
	neg := c.i < len(c.b) && c.b[c.i] == '-'
	if neg {
		c.i++
	}
	var n int64
	digits := 0
	for ; c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9'; c.i++ {
		n = n*10 + int64(c.b[c.i]-'0')
		digits++
	}
	if digits == 0 || digits > 18 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
