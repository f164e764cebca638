package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest/desttest"
)

const killRows = 20000

// TestKillLoop kills a process copying a MariaDB table into another
// database at random moments until a run finishes, then checks every row
// and every reject landed exactly once.
func TestKillLoop(t *testing.T) {
	if env := os.Getenv("TRIBUTARY_KILL_CHILD"); env != "" {
		src, dst, _ := strings.Cut(env, "\n")
		killChild(t, src, dst)
		return
	}
	srcDSN, dstDSN := newDatabase(t), newDatabase(t)
	db, err := sql.Open("mysql", srcDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE events (id BIGINT PRIMARY KEY, ts DATETIME(6) NOT NULL, amount DECIMAL(30,2), name VARCHAR(50))"); err != nil {
		t.Fatal(err)
	}
	var values []string
	bad := 0
	for i := 1; i <= killRows; i++ {
		amount := fmt.Sprintf("%d.25", i)
		if i%997 == 0 {
			amount, bad = "1234567890123456789012.25", bad+1 // too wide for a Decimal
		}
		values = append(values, fmt.Sprintf("(%d, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL %d MINUTE, %s, 'row %d')", i, i/100, amount, i))
		if len(values) == 1000 || i == killRows {
			if _, err := db.Exec("INSERT INTO events VALUES " + strings.Join(values, ", ")); err != nil {
				t.Fatal(err)
			}
			values = values[:0]
		}
	}
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt == 40 {
			t.Fatalf("no run finished in %d attempts", attempt)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillLoop$")
		cmd.Env = append(os.Environ(), "TRIBUTARY_KILL_CHILD="+srcDSN+"\n"+dstDSN)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out.String())
			}
		case <-time.After(time.Duration(100+rand.IntN(900)) * time.Millisecond * time.Duration(1+attempt/4)):
			cmd.Process.Kill()
			<-done
			kills++
			continue
		}
		break
	}
	t.Logf("finished after %d kills", kills)
	dst, err := sql.Open("mysql", dstDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var n, distinct, rejects, distinctRejects int
	if err := dst.QueryRow("SELECT COUNT(*), COUNT(DISTINCT id) FROM events").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := dst.QueryRow("SELECT COUNT(*), COUNT(DISTINCT origin) FROM _tributary_quarantine").Scan(&rejects, &distinctRejects); err != nil {
		t.Fatal(err)
	}
	if n != killRows-bad || distinct != n || rejects != bad || distinctRejects != bad {
		t.Fatalf("rows %d (distinct %d), rejects %d (distinct %d); want %d rows and %d rejects once each", n, distinct, rejects, distinctRejects, killRows-bad, bad)
	}
}

func killChild(t *testing.T, srcDSN, dstDSN string) {
	ctx := context.Background()
	raw, _ := json.Marshal(SourceConfig{DSN: srcDSN})
	src, err := NewSource(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	raw, _ = json.Marshal(DestinationConfig{DSN: dstDSN})
	dst, err := NewDestination(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	cat, err := src.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := connector.Stream{Name: "events", SyncMode: connector.IncrementalAppend, CursorField: "ts", PrimaryKey: []string{"id"}}
	if err := desttest.Pump(ctx, src, dst, "kill", st, cat.Find("events").Schema, 250); err != nil {
		t.Fatal(err)
	}
}
