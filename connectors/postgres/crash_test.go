package postgres

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

// TestCrashResume kills the writer's server connection at random points of
// a load, as a killed process would, and resumes from the committed state
// each time: in the end every row is there exactly once.
func TestCrashResume(t *testing.T) {
	for _, mode := range []connector.SyncMode{connector.IncrementalAppend, connector.IncrementalDedup} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			conn, schema := testSchema(t)
			d := newTestDest(t, schema)
			ctx := context.Background()
			const total, batch = 3000, 100
			rng := rand.New(rand.NewPCG(1, uint64(len(mode))))
			load := connector.Load{Pipeline: "crash", Stream: "s", Schema: idName, SyncMode: mode, PrimaryKey: []string{"id"}}
			kills := 0
			for attempt := 0; attempt < 100; attempt++ {
				st, err := d.State(ctx, "crash")
				if err != nil {
					t.Fatal(err)
				}
				next := 1
				if s := st["s"]; s != nil {
					if next, err = strconv.Atoi(string(s)); err != nil {
						t.Fatal(err)
					}
				}
				if next > total {
					break
				}
				load.RunID = "run" + strconv.Itoa(attempt)
				wr, err := d.Open(ctx, load)
				if err != nil {
					t.Fatal(err)
				}
				w := wr.(*writer)
				killAt := rng.IntN(12) // batches before the kill
				var failed error
				for i := 0; next <= total; i++ {
					if i == killAt {
						if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend($1)", w.conn.PgConn().PID()); err != nil {
							t.Fatal(err)
						}
						kills++
					}
					end := min(next+batch-1, total)
					if failed = w.Write(ctx, mkBatch("s", idName, idRows(next, end, "r")...)); failed != nil {
						break
					}
					next = end + 1
					if i%3 == 2 || next > total {
						if failed = w.Commit(ctx, json.RawMessage(strconv.Itoa(next))); failed != nil {
							break
						}
					}
				}
				if failed == nil {
					if err := w.Close(ctx, true); err != nil {
						t.Fatal(err)
					}
				} else {
					w.Close(ctx, false) //nolint:errcheck // the connection is gone
				}
			}
			if kills == 0 {
				t.Fatal("no connection was killed; the test proved nothing")
			}
			got := query(t, conn, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM "+qt(schema, "s"))
			if joinRows(got) != "3000|3000|1|3000" {
				t.Errorf("after %d kills: count, distinct, min, max = %v", kills, got)
			}
		})
	}
}
