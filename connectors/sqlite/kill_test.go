package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest/desttest"
)

const killRows = 8000

var killStream = connector.Stream{Name: "events", SyncMode: connector.IncrementalAppend, CursorField: "ts", PrimaryKey: []string{"id"}}

// TestKillLoop kills a process copying a table at random moments until a
// run finishes, then checks every row and every reject landed exactly once.
func TestKillLoop(t *testing.T) {
	if dir := os.Getenv("TRIBUTARY_KILL_CHILD"); dir != "" {
		killChild(t, dir)
		return
	}
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "src.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, ts DATETIME NOT NULL, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	bad := 0
	for i := 1; i <= killRows; i++ {
		var name any = fmt.Sprintf("row %d", i)
		if i%397 == 0 {
			name, bad = []byte{'x', 0xff, 0xfe}, bad+1 // stored as text, invalid UTF-8
			if _, err := tx.Exec(`INSERT INTO events VALUES (?, ?, CAST(? AS TEXT))`, i, base.Add(time.Duration(i/100)*time.Minute).Format(TimeLayout), name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := tx.Exec(`INSERT INTO events VALUES (?, ?, ?)`, i, base.Add(time.Duration(i/100)*time.Minute).Format(TimeLayout), name); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt == 40 {
			t.Fatalf("no run finished in %d attempts", attempt)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillLoop$")
		cmd.Env = append(os.Environ(), "TRIBUTARY_KILL_CHILD="+dir)
		out := &limitedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out)
			}
		case <-time.After(time.Duration(50+rand.IntN(400)) * time.Millisecond * time.Duration(1+attempt/4)):
			cmd.Process.Kill()
			<-done
			kills++
			continue
		}
		break
	}
	t.Logf("finished after %d kills", kills)
	dst, err := Open(filepath.Join(dir, "dst.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var n, distinct, rejects, distinctRejects int
	if err := dst.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT id) FROM events`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := dst.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT origin) FROM _tributary_quarantine`).Scan(&rejects, &distinctRejects); err != nil {
		t.Fatal(err)
	}
	if n != killRows-bad || distinct != n || rejects != bad || distinctRejects != bad {
		t.Fatalf("rows %d (distinct %d), rejects %d (distinct %d); want %d rows and %d rejects once each", n, distinct, rejects, distinctRejects, killRows-bad, bad)
	}
}

func killChild(t *testing.T, dir string) {
	ctx := context.Background()
	raw, _ := json.Marshal(SourceConfig{Path: filepath.Join(dir, "src.db")})
	src, err := NewSource(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	raw, _ = json.Marshal(DestinationConfig{Path: filepath.Join(dir, "dst.db")})
	dst, err := NewDestination(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := desttest.Pump(ctx, src, dst, "kill", killStream, cat.Find("events").Schema, 100); err != nil {
		t.Fatal(err)
	}
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 1<<16 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
