package kafka_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Records produced in a transaction are followed by a commit marker that
// takes an offset: a bounded run ends at once, having read every committed
// record and none of an aborted transaction, and the next run reads only
// what came after.
func TestBoundedReadEndsBeforeTransactionMarkers(t *testing.T) {
	addrs := cluster(t, "orders")
	tx := client(t, addrs, kgo.TransactionalID("orders-tx"), kgo.DefaultProduceTopic("orders"))
	ctx := context.Background()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, tx, "orders", 1, 9)
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// An aborted transaction's records are never read.
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(t, tx, "orders", 100, 104)
	if err := tx.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := spec(t, addrs, dir, "", "")
	start := time.Now()
	if st := run(t, s).Streams[0]; st.Read != 9 || st.Written != 9 {
		t.Fatalf("first run: %+v", st)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the run took %s to end", d)
	}
	produce(t, client(t, addrs), "orders", 10, 12)
	if st := run(t, s).Streams[0]; st.Read != 3 {
		t.Fatalf("second run: %+v", st)
	}
	if got := ids(t, dir); !slices.Equal(got, seq(1, 12)) {
		t.Fatalf("ids = %v", got)
	}
}
