package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-data/tributary/connector"
	_ "github.com/tributary-data/tributary/connectors/postgres"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/internal/pgcluster"
	"github.com/tributary-data/tributary/pipeline"
)

// destURL is the shared PostgreSQL the tests load into.
func destURL() string {
	if u := os.Getenv("TRIBUTARY_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// cdcEnv is one subtest's world: a database of its own in the private
// cluster with wal_level=logical as the source, a schema of its own in the
// shared server as the destination.
type cdcEnv struct {
	t       testing.TB
	ctx     context.Context
	srcURL  string
	src     *pgx.Conn
	dst     *pgx.Conn
	schema  string
	name    string
	deletes string
	slot    string
	streams string // extra stream entries of the pipeline, YAML
}

func newCDCEnv(t testing.TB, c *pgcluster.Cluster, name, deletes string) *cdcEnv {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, c.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	e := &cdcEnv{t: t, ctx: ctx, srcURL: c.URL(name), name: name, deletes: deletes, slot: "slot_" + name,
		schema: fmt.Sprintf("trib_cdc_%s_%d", name, time.Now().UnixNano()%1e9)}
	if e.src, err = pgx.Connect(ctx, e.srcURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.src.Close(ctx) })
	if e.dst, err = pgx.Connect(ctx, destURL()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres is not reachable: %v", err)
		}
		t.Skipf("postgres is not reachable (set CI to fail instead): %v", err)
	}
	t.Cleanup(func() {
		if _, err := e.dst.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{e.schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		e.dst.Close(ctx)
	})
	return e
}

func (e *cdcEnv) exec(conn *pgx.Conn, sqls ...string) {
	e.t.Helper()
	for _, q := range sqls {
		if _, err := conn.Exec(e.ctx, q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
}

func (e *cdcEnv) spec(extraCDC string) *pipeline.Spec {
	e.t.Helper()
	doc := fmt.Sprintf(`version: 1
name: cdc-%s
source:
  connector: postgres
  config:
    url: %q
    cdc: {slot: %s%s}
  streams:
    - {name: items, sync_mode: incremental_dedup, primary_key: [id]}%s
destination:
  connector: postgres
  config: {url: %q, schema: %s, deletes: %s}
`, e.name, e.srcURL, e.slot, extraCDC, e.streams, destURL(), e.schema, e.deletes)
	spec, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return spec
}

// run executes the pipeline once and returns the stream's rows read, or
// the run's error.
func (e *cdcEnv) run(extraCDC string) (int64, error) {
	e.t.Helper()
	r, err := engine.New(e.spec(extraCDC), engine.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	res, err := r.Execute(ctx)
	if err == nil && res.Status != engine.Succeeded {
		err = fmt.Errorf("run %s: %s", res.Status, res.Error)
	}
	if err != nil {
		return 0, err
	}
	var read int64
	for _, s := range res.Streams {
		if s.Read != s.Written+s.Quarantined+s.Filtered+s.Deduplicated {
			e.t.Errorf("stream %s: read %d != written %d + quarantined %d + filtered %d + deduplicated %d",
				s.Name, s.Read, s.Written, s.Quarantined, s.Filtered, s.Deduplicated)
		}
		read += s.Read
	}
	return read, nil
}

func (e *cdcEnv) mustRun(extraCDC string, wantRead int64) {
	e.t.Helper()
	read, err := e.run(extraCDC)
	if err != nil {
		e.t.Fatal(err)
	}
	if wantRead >= 0 && read != wantRead {
		e.t.Errorf("read %d rows, want %d", read, wantRead)
	}
}

func (e *cdcEnv) rows(conn *pgx.Conn, sql string) string {
	e.t.Helper()
	rows, err := conn.Query(e.ctx, sql)
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// itemCols selects the columns of items comparably on both sides.
const itemCols = "id, name, price::text, tags::text, encode(raw, 'hex'), to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), ok"

// source is the live rows of the source table; dest those of the
// destination without soft-deleted rows, which must be the same.
func (e *cdcEnv) source() string { return e.rows(e.src, "SELECT "+itemCols+" FROM items ORDER BY id") }
func (e *cdcEnv) dest() string {
	where := ""
	if e.deletes == "soft" {
		where = " WHERE " + connector.DeletedAtField + " IS NULL"
	}
	return e.rows(e.dst, "SELECT "+itemCols+" FROM "+pgx.Identifier{e.schema, "items"}.Sanitize()+where+" ORDER BY id")
}

func (e *cdcEnv) matches(step string) {
	e.t.Helper()
	src, dst := e.source(), e.dest()
	if src != dst {
		e.t.Fatalf("%s: destination differs from source\nsource:\n%s\ndestination:\n%s", step, src, dst)
	}
}

// committedLSN is the checkpoint the destination holds for the stream.
func (e *cdcEnv) committedLSN() string {
	e.t.Helper()
	var state string
	if err := e.dst.QueryRow(e.ctx, "SELECT state FROM "+pgx.Identifier{e.schema, "_tributary_state"}.Sanitize()+" WHERE pipeline = $1 AND stream = 'items'", "cdc-"+e.name).Scan(&state); err != nil {
		e.t.Fatal(err)
	}
	var st struct {
		State struct{ LSN string }
	}
	if err := json.Unmarshal([]byte(state), &st); err != nil || st.State.LSN == "" {
		e.t.Fatalf("state %s: %v", state, err)
	}
	return st.State.LSN
}

func (e *cdcEnv) slotLSN() string {
	e.t.Helper()
	var lsn string
	if err := e.src.QueryRow(e.ctx, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", e.slot).Scan(&lsn); err != nil {
		e.t.Fatalf("slot %s: %v", e.slot, err)
	}
	return lsn
}

const itemsDDL = `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags jsonb, raw bytea, seen timestamptz, ok boolean)`

func seed(e *cdcEnv) {
	e.exec(e.src, itemsDDL,
		`CREATE TABLE other (id int PRIMARY KEY, v text)`,
		`INSERT INTO items VALUES
			(1, 'apple', 1.50, '{"c": ["red"]}', '\x00ff', '2026-01-02 03:04:05.123456+00', true),
			(2, 'pear ünïcode', NULL, NULL, NULL, NULL, NULL),
			(3, 'plum', 3.00, '[]', '\x', '2026-03-01 00:00:00+02', false)`)
}

// TestCDC reads a table through logical replication into the shared
// PostgreSQL: a snapshot, then inserts, updates and deletes, with deletes
// applied soft and hard; a failed load reads its changes again; slot and
// publication are made once.
func TestCDC(t *testing.T) {
	c := pgcluster.Start(t, pgcluster.LogicalReplication())

	for _, deletes := range []string{"soft", "hard"} {
		t.Run("changes_"+deletes, func(t *testing.T) {
			e := newCDCEnv(t, c, "changes_"+deletes, deletes)
			seed(e)
			e.mustRun("", 3)
			e.matches("snapshot")

			var pubOID uint32
			if err := e.src.QueryRow(e.ctx, "SELECT oid FROM pg_publication WHERE pubname = $1", e.slot).Scan(&pubOID); err != nil {
				t.Fatalf("publication after the first run: %v", err)
			}
			first := e.committedLSN()

			e.exec(e.src,
				`INSERT INTO items VALUES (4, 'quince', 4.25, '{"n": 1}', '\xbeef', now(), true)`,
				`UPDATE items SET name = 'pear', price = 2.20 WHERE id = 2`,
				`UPDATE items SET price = price + 1 WHERE id = 1`,
				`UPDATE items SET price = price + 1 WHERE id = 1`,
				`DELETE FROM items WHERE id = 3`,
				`BEGIN; INSERT INTO items VALUES (5, 'gone', 0, NULL, NULL, NULL, NULL); DELETE FROM items WHERE id = 5; COMMIT`,
				`INSERT INTO other VALUES (1, 'not selected')`,
				`BEGIN; INSERT INTO items VALUES (6, 'rolled back', 0, NULL, NULL, NULL, NULL); ROLLBACK`)
			// The slot confirms only what the destination committed before
			// a run starts.
			e.mustRun("", -1)
			e.matches("after inserts, updates and deletes")
			if got := e.slotLSN(); got != first {
				t.Errorf("slot confirmed %s during the second run, want the first run's checkpoint %s", got, first)
			}
			var deleted int
			if err := e.dst.QueryRow(e.ctx, "SELECT count(*) FROM "+pgx.Identifier{e.schema, "items"}.Sanitize()+" WHERE id = 3").Scan(&deleted); err != nil {
				t.Fatal(err)
			}
			switch deletes {
			case "hard":
				if deleted != 0 {
					t.Errorf("hard delete kept row 3")
				}
			case "soft":
				got := e.rows(e.dst, "SELECT name, price::text, "+connector.DeletedAtField+" IS NOT NULL FROM "+pgx.Identifier{e.schema, "items"}.Sanitize()+" WHERE id = 3")
				if got != "plum|3.00|true" {
					t.Errorf("soft-deleted row 3 = %q, want its last values and a deletion time", got)
				}
			}

			// Nothing changed: nothing read, the slot catches up.
			second := e.committedLSN()
			e.mustRun("", 0)
			if got := e.slotLSN(); got != second {
				t.Errorf("slot confirmed %s, want the second run's checkpoint %s", got, second)
			}

			// A deleted key inserted again is live again.
			e.exec(e.src, `INSERT INTO items VALUES (3, 'plum again', 3.30, NULL, NULL, NULL, NULL)`)
			e.mustRun("", 1)
			e.matches("after re-inserting a deleted key")

			// A column added while replicating, and an update that leaves
			// a large (TOASTed) value unchanged, which the stream leaves out.
			e.exec(e.src,
				`ALTER TABLE items ADD COLUMN note text`,
				`INSERT INTO items (id, name, note) SELECT 10, 'big', string_agg(md5(g::text), '') FROM generate_series(1, 400) g`,
				`UPDATE items SET note = 'small' WHERE id = 1`)
			e.mustRun("", 2)
			e.exec(e.src, `UPDATE items SET price = 10.10 WHERE id = 10`)
			e.mustRun("", 1)
			e.matches("after a new column and an unchanged TOASTed value")
			notes := func(conn *pgx.Conn, table string) string {
				where := ""
				if deletes == "soft" && conn == e.dst {
					where = " WHERE " + connector.DeletedAtField + " IS NULL"
				}
				return e.rows(conn, "SELECT id, coalesce(md5(note), '-') FROM "+table+where+" ORDER BY id")
			}
			if src, dst := notes(e.src, "items"), notes(e.dst, pgx.Identifier{e.schema, "items"}.Sanitize()); src != dst {
				t.Errorf("notes differ\nsource:\n%s\ndestination:\n%s", src, dst)
			}

			var slots, pubs int
			var oid uint32
			if err := e.src.QueryRow(e.ctx, "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()), (SELECT count(*) FROM pg_publication), (SELECT oid FROM pg_publication WHERE pubname = $1)", e.slot).Scan(&slots, &pubs, &oid); err != nil {
				t.Fatal(err)
			}
			if slots != 1 || pubs != 1 || oid != pubOID {
				t.Errorf("after four runs: %d slots, %d publications, publication oid %d (first %d): want one of each, made once", slots, pubs, oid, pubOID)
			}
		})
	}

	t.Run("failed_load_reads_again", func(t *testing.T) {
		e := newCDCEnv(t, c, "crash", "hard")
		seed(e)
		e.mustRun("", 3)
		before := e.committedLSN()
		e.exec(e.src,
			`INSERT INTO items VALUES (7, 'seven', 7, NULL, NULL, NULL, NULL)`,
			`UPDATE items SET name = 'APPLE' WHERE id = 1`,
			`DELETE FROM items WHERE id = 2`)
		// The destination refuses the merge: the run fails after reading
		// the changes, before anything is committed.
		target := pgx.Identifier{e.schema, "items"}.Sanitize()
		e.exec(e.dst,
			`CREATE FUNCTION `+pgx.Identifier{e.schema, "refuse"}.Sanitize()+`() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'destination down'; END $$`,
			`CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON `+target+` FOR EACH ROW EXECUTE FUNCTION `+pgx.Identifier{e.schema, "refuse"}.Sanitize()+`()`)
		for i := range 2 {
			if _, err := e.run(""); err == nil || !strings.Contains(err.Error(), "destination down") {
				t.Fatalf("failing load %d: err = %v, want the destination's error", i, err)
			}
			if got := e.committedLSN(); got != before {
				t.Fatalf("a failed run moved the checkpoint from %s to %s", before, got)
			}
		}
		e.exec(e.dst, `DROP TRIGGER refuse ON `+target)
		e.mustRun("", 3)
		e.matches("after the failed runs")
		var n int
		if err := e.dst.QueryRow(e.ctx, "SELECT count(*) FROM "+target).Scan(&n); err != nil || n != 3 {
			t.Fatalf("destination holds %d rows (%v), want 3", n, err)
		}
	})

	t.Run("stream_added_later", func(t *testing.T) {
		e := newCDCEnv(t, c, "added", "hard")
		seed(e)
		e.exec(e.src, `INSERT INTO other VALUES (1, 'one'), (2, 'two')`)
		e.mustRun("", 3)
		e.exec(e.src, `UPDATE items SET name = 'APPLE' WHERE id = 1`, `UPDATE other SET v = 'TWO' WHERE id = 2`)
		// other joins the pipeline: it is snapshotted, items goes on
		// from its checkpoint, one slot and one publication serve both.
		e.streams = "\n    - {name: other, sync_mode: incremental_dedup, primary_key: [id]}"
		e.mustRun("", 3)
		e.exec(e.src, `DELETE FROM other WHERE id = 1`, `INSERT INTO other VALUES (3, 'three')`, `DELETE FROM items WHERE id = 2`)
		e.mustRun("", 3)
		e.matches("items")
		other := func(conn *pgx.Conn, table string) string {
			return e.rows(conn, "SELECT id, v FROM "+table+" ORDER BY id")
		}
		if src, dst := other(e.src, "other"), other(e.dst, pgx.Identifier{e.schema, "other"}.Sanitize()); src != dst {
			t.Errorf("other differs\nsource:\n%s\ndestination:\n%s", src, dst)
		}
		var tables int
		if err := e.src.QueryRow(e.ctx, "SELECT count(*) FROM pg_publication_tables WHERE pubname = $1", e.slot).Scan(&tables); err != nil || tables != 2 {
			t.Errorf("publication holds %d tables (%v), want 2", tables, err)
		}
	})

	t.Run("slot_moved_past_checkpoint", func(t *testing.T) {
		e := newCDCEnv(t, c, "moved", "hard")
		seed(e)
		e.mustRun("", 3)
		// Changes the slot is then made to skip, as another consumer of
		// the slot would: they never reach the stream.
		e.exec(e.src, `DELETE FROM items WHERE id = 1`, `UPDATE items SET name = 'skipped' WHERE id = 2`)
		e.mustRun("", 2) // the slot confirms this run's start at the next one
		e.exec(e.src, `UPDATE items SET name = 'lost' WHERE id = 3`, `INSERT INTO items VALUES (11, 'eleven', 1, NULL, NULL, NULL, NULL)`)
		// The cluster commits asynchronously; a synchronous commit flushes
		// the WAL the slot may advance over.
		e.exec(e.src, `SET synchronous_commit = on`, `INSERT INTO other VALUES (99, 'flush')`)
		e.exec(e.src, `SELECT pg_replication_slot_advance('`+e.slot+`', pg_current_wal_lsn())`)
		// The checkpoint is behind what the slot confirms: a new snapshot.
		e.mustRun("", 3)
		e.matches("after the slot moved on")
	})

	t.Run("drop_slot_then_snapshot_again", func(t *testing.T) {
		e := newCDCEnv(t, c, "dropping", "soft")
		seed(e)
		e.mustRun("", 3)
		e.mustRun(", drop_slot: true", 0)
		var n int
		if err := e.src.QueryRow(e.ctx, "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1) + (SELECT count(*) FROM pg_publication WHERE pubname = $1)", e.slot).Scan(&n); err != nil || n != 0 {
			t.Fatalf("after drop_slot: %d slots and publications left (%v)", n, err)
		}
		e.exec(e.src, `DELETE FROM items WHERE id = 1`, `INSERT INTO items VALUES (8, 'eight', 8, NULL, NULL, NULL, NULL)`)
		// A new slot cannot know what happened in between: a new snapshot.
		e.mustRun("", 3)
		if got := e.rows(e.dst, "SELECT id FROM "+pgx.Identifier{e.schema, "items"}.Sanitize()+" ORDER BY id"); got != "1\n2\n3\n8" {
			t.Errorf("after a new snapshot the destination holds ids %q", strings.ReplaceAll(got, "\n", ","))
		}
	})

	t.Run("slow_destination", func(t *testing.T) {
		// The server drops a replication connection silent for
		// wal_sender_timeout (here 1 s); a destination slower than that
		// must not break the read.
		e := newCDCEnv(t, c, "slow", "soft")
		seed(e)
		ctx := context.Background()
		src, err := connector.NewSource(ctx, "postgres", []byte(fmt.Sprintf(`{"url": %q, "cdc": {"slot": "slow"}}`, e.srcURL+"&wal_sender_timeout=1000")))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		req := connector.ReadRequest{Streams: []connector.Stream{{Name: "items", SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"id"}}}, BatchSize: 1}
		first := &slowEmitter{}
		if err := src.Read(ctx, req, first); err != nil {
			t.Fatal(err)
		}
		e.exec(e.src, `UPDATE items SET name = 'x' || name`)
		req.State = map[string]json.RawMessage{"items": first.state}
		slow := &slowEmitter{delay: 2500 * time.Millisecond}
		if err := src.Read(ctx, req, slow); err != nil {
			t.Fatalf("read with a slow destination: %v", err)
		}
		if first.rows != 3 || slow.rows != 3 {
			t.Errorf("read %d rows, then %d; want 3 and 3", first.rows, slow.rows)
		}
		// The changes may all be in the socket before the server gives
		// up, so the read can end well either way: its log tells.
		log, err := os.ReadFile(filepath.Join(c.Dir(), "server.log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), "replication timeout") {
			t.Errorf("the server dropped the replication connection of a slow run:\n%s", log)
		}
	})

	t.Run("check", func(t *testing.T) {
		ctx := context.Background()
		for _, tc := range []struct{ url, want string }{
			{c.URL(""), ""},
			{destURL(), "wal_level"}, // the shared server runs with wal_level=replica
		} {
			src, err := connector.NewSource(ctx, "postgres", []byte(fmt.Sprintf(`{"url": %q, "cdc": {}}`, tc.url)))
			if err != nil {
				t.Fatal(err)
			}
			err = src.Check(ctx)
			src.Close()
			if tc.want == "" && err != nil {
				t.Errorf("check of the logical cluster: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				var level string
				if qerr := e0(t).QueryRow(ctx, "SHOW wal_level").Scan(&level); qerr == nil && level == "logical" {
					t.Skip("the shared server runs with wal_level=logical")
				}
				t.Errorf("check against %s: %v, want an error about %s", tc.url, err, tc.want)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		e := newCDCEnv(t, c, "refused", "soft")
		e.exec(e.src, `CREATE TABLE items (id int, name text)`)
		cases := []struct {
			name, spec, want string
		}{
			{"no primary key", "{name: items, sync_mode: incremental_dedup, primary_key: [id]}", "table public.items has no primary key"},
			{"not dedup", "{name: items, sync_mode: full_refresh_overwrite}", "cdc needs sync_mode incremental_dedup"},
			{"unknown table", "{name: nope, sync_mode: incremental_dedup, primary_key: [id]}", "stream nope: table not found"},
		}
		for _, tc := range cases {
			doc := fmt.Sprintf("version: 1\nname: refused\nsource:\n  connector: postgres\n  config: {url: %q, cdc: {}}\n  streams:\n    - %s\ndestination:\n  connector: postgres\n  config: {url: %q, schema: %s}\n",
				e.srcURL, tc.spec, destURL(), e.schema)
			spec, err := pipeline.Parse([]byte(doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := engine.New(spec, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Execute(e.ctx)
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = res.Error
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%s: error %q, want it to say %q", tc.name, msg, tc.want)
			}
		}
		var n int
		if err := e.src.QueryRow(e.ctx, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()").Scan(&n); err != nil || n != 0 {
			t.Errorf("refused pipelines left %d slots (%v)", n, err)
		}
	})
}

// e0 connects to the shared server.
func e0(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), destURL())
	if err != nil {
		t.Skipf("postgres is not reachable: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// slowEmitter takes delay over its first batch, as a busy destination
// would, and keeps the last checkpoint.
type slowEmitter struct {
	delay time.Duration
	rows  int
	state json.RawMessage
}

func (s *slowEmitter) Emit(_ context.Context, b *connector.Batch) error {
	if s.rows == 0 {
		time.Sleep(s.delay)
	}
	s.rows += b.Len()
	return nil
}

func (s *slowEmitter) Checkpoint(_ context.Context, _ string, st json.RawMessage) error {
	s.state = st
	return nil
}

func (s *slowEmitter) Reject(_ context.Context, r connector.Reject) error {
	return fmt.Errorf("reject: %s", r.Reason)
}
