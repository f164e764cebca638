package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/tributary-data/tributary/connector"
)

// The engine loads streams at once, one writer each, into one file: each
// writer's transactions must wait for the others, never fail as locked.
func TestConcurrentStreams(t *testing.T) {
	ctx := context.Background()
	raw, _ := json.Marshal(DestinationConfig{Path: filepath.Join(t.TempDir(), "dest.db")})
	d, err := NewDestination(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := connector.NewSchema(
		connector.Field{Name: "id", Type: connector.TypeInt64},
		connector.Field{Name: "v", Type: connector.TypeString},
	)
	modes := []connector.SyncMode{connector.IncrementalDedup, connector.FullRefreshAppend, connector.FullRefreshOverwrite, connector.IncrementalAppend}
	const streams, batches, rows = 8, 20, 50
	var g errgroup.Group
	for i := range streams {
		g.Go(func() error {
			name := fmt.Sprintf("s%d", i)
			load := connector.Load{Pipeline: "p", RunID: "r", Stream: name, Schema: s, SyncMode: modes[i%len(modes)], PrimaryKey: []string{"id"}, CursorField: "id"}
			w, err := d.Open(ctx, load)
			if err != nil {
				return fmt.Errorf("open %s: %w", name, err)
			}
			for b := range batches {
				bt := connector.NewBatch(name, s, rows)
				for r := range rows {
					bt.Append([]any{int64(b*rows + r), "x"})
				}
				if err := w.Write(ctx, bt); err != nil {
					return fmt.Errorf("write %s: %w", name, err)
				}
				if err := w.Commit(ctx, json.RawMessage(fmt.Sprintf(`{"b":%d}`, b))); err != nil {
					return fmt.Errorf("commit %s: %w", name, err)
				}
			}
			return w.Close(ctx, true)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	db := d.(interface{ DB() *sql.DB }).DB()
	for i := range streams {
		var n int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM s%d`, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != batches*rows {
			t.Errorf("stream s%d: %d rows, want %d", i, n, batches*rows)
		}
	}
}
