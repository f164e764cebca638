package sqldest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest"
	"github.com/tributary-data/tributary/connectors/sqlite"
)

// TestDeletes loads changes with deletes marked in connector.DeletedAtField
// into SQLite through the shared loader, soft and hard.
func TestDeletes(t *testing.T) {
	schema := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "name", Type: connector.TypeString, Nullable: true},
		connector.Field{Name: connector.DeletedAtField, Type: connector.TypeTimestamp, Nullable: true},
	)
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	batch := func(rows ...[]any) *connector.Batch {
		b := connector.NewBatch("items", schema, len(rows))
		for _, r := range rows {
			row := b.NewRow()
			copy(row, r)
			b.Append(row)
		}
		return b
	}
	cases := []struct {
		deletes string // the destination's setting
		want    string
	}{
		{"", "1 apple2 false|2 pear true|3 plum again false"},
		{"soft", "1 apple2 false|2 pear true|3 plum again false"},
		{"hard", "1 apple2 false|3 plum again false"},
	}
	for _, tc := range cases {
		t.Run("deletes="+tc.deletes, func(t *testing.T) {
			ctx := context.Background()
			raw := fmt.Sprintf(`{"path": %q, "deletes": %q}`, filepath.Join(t.TempDir(), "d.db"), tc.deletes)
			dst, err := sqlite.NewDestination(ctx, []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			x := dst.(*sqldest.Destination)
			w, err := x.Open(ctx, connector.Load{Pipeline: "p", Stream: "items", Schema: schema, SyncMode: connector.IncrementalDedup, PrimaryKey: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			steps := []*connector.Batch{
				batch([]any{int64(1), "apple", nil}, []any{int64(2), "pear", nil}, []any{int64(3), "plum", nil}),
				batch(
					[]any{int64(1), "apple2", nil},
					[]any{int64(2), nil, at},            // delete: the key only
					[]any{int64(9), nil, at},            // never loaded: nothing to delete
					[]any{int64(3), nil, at},            // deleted …
					[]any{int64(3), "plum again", nil}), // … and inserted again
			}
			for i, b := range steps {
				if err := w.Write(ctx, b); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if err := w.Commit(ctx, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
			}
			if err := w.Close(ctx, true); err != nil {
				t.Fatal(err)
			}
			rows, err := x.DB().QueryContext(ctx, `SELECT id, name, "_tributary_deleted_at" IS NOT NULL FROM items ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var id int64
				var name string
				var deleted bool
				if err := rows.Scan(&id, &name, &deleted); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%d %s %v", id, name, deleted))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, "|"); s != tc.want {
				t.Errorf("rows %q, want %q", s, tc.want)
			}
		})
	}
}
