package kafka_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/kafka"
	_ "github.com/tributary-data/tributary/connectors/sqlite"
)

func cluster(t *testing.T, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func client(t *testing.T, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes orders from..to as JSON, keyed by id, spread over the
// partitions.
func produce(t *testing.T, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i <= to; i++ {
		recs = append(recs, &kgo.Record{
			Topic:   topic,
			Key:     []byte(fmt.Sprint(i)),
			Value:   []byte(fmt.Sprintf(`{"id":%d,"amount":%d.5,"customer":"c%d"}`, i, i, i%7)),
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("test")}},
		})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func spec(t *testing.T, addrs []string, dir, extra, options string) *pipeline.Spec {
	t.Helper()
	doc := fmt.Sprintf(`version: 1
name: orders-from-kafka
source:
  connector: kafka
  config: {brokers: [%q], group: tributary-orders%s}
  streams:
    - name: orders
      sync_mode: incremental_append
destination:
  connector: sqlite
  config: {path: %q}
options: {batch_size: 7%s}
`, addrs[0], extra, filepath.Join(dir, "out.db"), options)
	s, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(t *testing.T, dir string) []int64 {
	t.Helper()
	path := filepath.Join(dir, "out.db")
	if _, err := os.Stat(path); err != nil {
		// The run creates the database; opening it first would race.
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id FROM orders ORDER BY id`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil
		}
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func checkInvariant(t *testing.T, res *engine.Result) {
	t.Helper()
	for _, s := range res.Streams {
		if s.Read != s.Written+s.Quarantined+s.Filtered+s.Deduplicated {
			t.Errorf("stream %s: read %d != written %d + quarantined %d + filtered %d + deduplicated %d",
				s.Name, s.Read, s.Written, s.Quarantined, s.Filtered, s.Deduplicated)
		}
	}
}

func run(t *testing.T, s *pipeline.Spec) *engine.Result {
	t.Helper()
	r, err := engine.New(s, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, res)
	return res
}

func groupOffsets(t *testing.T, cl *kgo.Client, group string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}

// A bounded run reads what the topic holds, quarantines what is not a JSON
// object with topic/partition/offset as origin, and the next run reads only
// what arrived since: offsets are saved with the destination's commit.
func TestBoundedReadResumesAndQuarantines(t *testing.T) {
	addrs := cluster(t, "orders")
	cl := client(t, addrs, kgo.DefaultProduceTopic("orders"))
	dir := t.TempDir()
	produce(t, cl, "orders", 1, 20)
	bad := []*kgo.Record{
		{Topic: "orders", Key: []byte("bad"), Value: []byte(`{"id": 21, "amount": `)},
		{Topic: "orders", Key: []byte("bad"), Value: []byte(`[1,2]`)},
	}
	if err := cl.ProduceSync(context.Background(), bad...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s := spec(t, addrs, dir, "", "")
	res := run(t, s)
	if st := res.Streams[0]; st.Read != 22 || st.Written != 20 || st.Quarantined != 2 {
		t.Fatalf("first run: %+v", st)
	}
	if got := ids(t, dir); !slices.Equal(got, seq(1, 20)) {
		t.Fatalf("ids = %v", got)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var origins []string
	rows, err := db.Query(`SELECT origin, reason FROM _tributary_quarantine ORDER BY origin`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o, r string
		if err := rows.Scan(&o, &r); err != nil {
			t.Fatal(err)
		}
		origins = append(origins, o+" | "+r)
	}
	rows.Close()
	all := strings.Join(origins, "\n")
	if len(origins) != 2 || !strings.HasPrefix(origins[0], "orders/") || !strings.HasPrefix(origins[1], "orders/") ||
		!strings.Contains(all, "invalid JSON: unexpected end of JSON input") || !strings.Contains(all, "not a JSON object: array") {
		t.Errorf("quarantine = %q", origins)
	}
	var key, headers string
	var partition, offset int64
	if err := db.QueryRow(`SELECT _kafka_key, _kafka_partition, _kafka_offset, _kafka_headers FROM orders WHERE id = 7`).
		Scan(&key, &partition, &offset, &headers); err != nil {
		t.Fatal(err)
	}
	if key != "7" || partition < 0 || partition > 2 || !strings.Contains(headers, `"source"`) {
		t.Errorf("metadata of id 7: key %q partition %d offset %d headers %s", key, partition, offset, headers)
	}
	// The group's offsets were committed after the destination's commit:
	// 22 records read across the partitions.
	if n := groupOffsets(t, cl, "tributary-orders"); n != 22 {
		t.Errorf("group offsets sum to %d, want 22", n)
	}

	produce(t, cl, "orders", 21, 30)
	res = run(t, s)
	if st := res.Streams[0]; st.Read != 10 || st.Written != 10 {
		t.Fatalf("second run: %+v", st)
	}
	if got := ids(t, dir); !slices.Equal(got, seq(1, 30)) {
		t.Fatalf("ids after resume = %v", got)
	}
	// Nothing new: a run reads nothing and ends.
	res = run(t, s)
	if st := res.Streams[0]; st.Read != 0 {
		t.Fatalf("third run: %+v", st)
	}
}

// waitFor polls until cond holds or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A continuous run commits micro-batches while messages keep arriving,
// stays running until cancelled, and a restart resumes from the committed
// offsets: every message is loaded exactly once, even though the first run
// is cancelled while messages are produced and a micro-batch is in flight.
func TestContinuousCancelAndRestart(t *testing.T) {
	addrs := cluster(t, "orders")
	cl := client(t, addrs)
	dir := t.TempDir()
	s := spec(t, addrs, dir, ", continuous: true", ", commit_rows: 10, commit_interval: 200ms")

	start := func() (*engine.Run, func() *engine.Result) {
		r, err := engine.New(s, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var res *engine.Result
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ = r.Execute(ctx)
		}()
		return r, func() *engine.Result {
			cancel()
			wg.Wait()
			return res
		}
	}

	r, stop := start()
	produce(t, cl, "orders", 1, 25)
	waitFor(t, 15*time.Second, "the first 25 rows", func() bool { return len(ids(t, dir)) == 25 })
	waitFor(t, 5*time.Second, "no lag", func() bool {
		p := r.Progress()
		return p[0].Lag != nil && *p[0].Lag == 0
	})
	// Cancel while a producer keeps writing: some of its messages are read
	// and not committed when the run ends.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 26; i <= 100; i += 5 {
			produce(t, cl, "orders", i, i+4)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(150 * time.Millisecond)
	res := stop()
	wg.Wait()
	if res.Status != engine.Cancelled {
		t.Fatalf("status %s (%s), want cancelled", res.Status, res.Error)
	}
	if n := len(ids(t, dir)); n >= 100 {
		t.Logf("the run loaded all %d rows before it was cancelled", n)
	}

	r, stop = start()
	produce(t, cl, "orders", 101, 120)
	waitFor(t, 15*time.Second, "all 120 rows", func() bool { return len(ids(t, dir)) >= 120 })
	waitFor(t, 5*time.Second, "no lag after the restart", func() bool {
		p := r.Progress()
		return p[0].Lag != nil && *p[0].Lag == 0
	})
	res = stop()
	if res.Status != engine.Cancelled {
		t.Fatalf("status %s (%s), want cancelled", res.Status, res.Error)
	}
	checkInvariant(t, res)
	if got := ids(t, dir); !slices.Equal(got, seq(1, 120)) {
		t.Fatalf("ids after restart (%d) = %v", len(got), got)
	}
}

// The destination produces each row as a JSON record keyed by the primary
// key; a bounded kafka source feeds it, its state kept in a state file.
func TestDestinationProducesJSONKeyedByPrimaryKey(t *testing.T) {
	addrs := cluster(t, "orders", "copy")
	cl := client(t, addrs)
	produce(t, cl, "orders", 1, 12)
	doc := fmt.Sprintf(`version: 1
name: copy
source:
  connector: kafka
  config: {brokers: [%q]}
  streams:
    - name: orders
      sync_mode: incremental_append
      primary_key: [id]
transforms:
  - {select: [id, amount, customer]}
destination:
  connector: kafka
  config: {brokers: [%q], topic: copy}
`, addrs[0], addrs[0])
	s, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(t.TempDir(), "state.json")
	for range 2 { // the second run reads nothing new and produces nothing
		r, err := engine.New(s, engine.Options{StatePath: statePath})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Execute(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkInvariant(t, res)
	}
	consumer := client(t, addrs, kgo.ConsumeTopics("copy"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]map[string]any{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < 12 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var v map[string]any
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Errorf("record %s: %v", r.Value, err)
			}
			if _, dup := got[string(r.Key)]; dup {
				t.Errorf("key %s produced twice", r.Key)
			}
			got[string(r.Key)] = v
		})
	}
	if len(got) != 12 {
		t.Fatalf("consumed %d records", len(got))
	}
	if v := got["5"]; v["id"] != float64(5) || v["amount"] != 5.5 || v["customer"] != "c5" || len(v) != 3 {
		t.Errorf("record of key 5 = %v", v)
	}
}
