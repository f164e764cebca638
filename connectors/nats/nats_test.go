package nats_test

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

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/pipeline"

	_ "github.com/tributary-data/tributary/connectors/nats"
	_ "github.com/tributary-data/tributary/connectors/sqlite"
)

// jetStream connects to the NATS server on this machine and creates a
// stream of the test's own, deleted when the test ends.
func jetStream(t *testing.T) (jetstream.JetStream, string) {
	t.Helper()
	nc, err := natsgo.Connect(natsgo.DefaultURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("TRIB_%s_%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	return js, name
}

func publish(t *testing.T, js jetstream.JetStream, subject string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		msg := &natsgo.Msg{Subject: subject, Data: []byte(fmt.Sprintf(`{"id":%d,"amount":%d.5}`, i, i)), Header: natsgo.Header{"Source": []string{"test"}}}
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

func spec(t *testing.T, name, dir, extra, options string) *pipeline.Spec {
	t.Helper()
	doc := fmt.Sprintf(`version: 1
name: orders-from-nats
source:
  connector: nats
  config: {url: %q%s}
  streams:
    - name: orders
      stream: %s
      sync_mode: incremental_append
destination:
  connector: sqlite
  config: {path: %q}
options: {batch_size: 7%s}
`, natsgo.DefaultURL, extra, name, filepath.Join(dir, "out.db"), options)
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

func run(t *testing.T, s *pipeline.Spec, opts engine.Options) *engine.Result {
	t.Helper()
	r, err := engine.New(s, opts)
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

func ackFloor(t *testing.T, js jetstream.JetStream, stream, consumer string) uint64 {
	t.Helper()
	c, err := js.Consumer(context.Background(), stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	return c.CachedInfo().AckFloor.Stream
}

// A bounded run reads what the stream holds, quarantines payloads that are
// not JSON objects with stream/sequence as origin, acknowledges through
// its durable consumer only after the destination committed, and the next
// run resumes after the saved sequence.
func TestBoundedReadAcksAfterCommitAndResumes(t *testing.T) {
	js, name := jetStream(t)
	dir := t.TempDir()
	publish(t, js, name+".orders", 1, 20)
	for _, bad := range []string{`{"id": 21,`, `"just a string"`} {
		if _, err := js.Publish(context.Background(), name+".orders", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	s := spec(t, name, dir, "", "")
	res := run(t, s, engine.Options{})
	if st := res.Streams[0]; st.Read != 22 || st.Written != 20 || st.Quarantined != 2 {
		t.Fatalf("first run: %+v", st)
	}
	if got := ids(t, dir); !slices.Equal(got, seq(1, 20)) {
		t.Fatalf("ids = %v", got)
	}
	if n := ackFloor(t, js, name, "tributary_orders"); n != 22 {
		t.Errorf("consumer acknowledged up to %d, want 22", n)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	rows, err := db.Query(`SELECT origin, reason FROM _tributary_quarantine ORDER BY origin`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o, r string
		if err := rows.Scan(&o, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, o+" | "+r)
	}
	rows.Close()
	want := []string{name + "/21 | invalid JSON: unexpected end of JSON input", name + "/22 | not a JSON object: string"}
	if !slices.Equal(got, want) {
		t.Errorf("quarantine = %q, want %q", got, want)
	}
	var subject, headers string
	var sequence int64
	if err := db.QueryRow(`SELECT _nats_subject, _nats_sequence, _nats_headers FROM orders WHERE id = 7`).Scan(&subject, &sequence, &headers); err != nil {
		t.Fatal(err)
	}
	if subject != name+".orders" || sequence != 7 || !strings.Contains(headers, `"Source":"test"`) {
		t.Errorf("metadata of id 7: %s %d %s", subject, sequence, headers)
	}

	publish(t, js, name+".orders", 21, 30)
	res = run(t, s, engine.Options{})
	if st := res.Streams[0]; st.Read != 10 || st.Written != 10 {
		t.Fatalf("second run: %+v", st)
	}
	if got := ids(t, dir); !slices.Equal(got, seq(1, 30)) {
		t.Fatalf("ids after resume = %v", got)
	}
	if res = run(t, s, engine.Options{}); res.Streams[0].Read != 0 {
		t.Fatalf("third run read %d", res.Streams[0].Read)
	}
}

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

// A continuous run loads messages as they are published and stays running;
// cancelled while messages keep coming (delivered and not acknowledged),
// it is restarted and every message is loaded exactly once.
func TestContinuousCancelAndRestart(t *testing.T) {
	js, name := jetStream(t)
	dir := t.TempDir()
	s := spec(t, name, dir, ", continuous: true", ", commit_rows: 10, commit_interval: 200ms")
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
	publish(t, js, name+".orders", 1, 25)
	waitFor(t, 15*time.Second, "the first 25 rows", func() bool { return len(ids(t, dir)) == 25 })
	waitFor(t, 5*time.Second, "no lag", func() bool {
		p := r.Progress()
		return p[0].Lag != nil && *p[0].Lag == 0
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 26; i <= 100; i += 5 {
			publish(t, js, name+".orders", i, i+4)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(150 * time.Millisecond)
	res := stop()
	wg.Wait()
	if res.Status != engine.Cancelled {
		t.Fatalf("status %s (%s), want cancelled", res.Status, res.Error)
	}

	r, stop = start()
	publish(t, js, name+".orders", 101, 120)
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

// The destination publishes each row as JSON with a message ID: rows read
// and published again (here, after the state was lost) are dropped by
// JetStream as duplicates.
func TestDestinationDeduplicatesByMessageID(t *testing.T) {
	js, name := jetStream(t)
	publish(t, js, name+".orders", 1, 12)
	doc := fmt.Sprintf(`version: 1
name: copy
source:
  connector: nats
  config: {url: %q}
  streams:
    - {name: orders, stream: %s, subject: %s.orders, sync_mode: incremental_append, primary_key: [id]}
transforms:
  - {select: [id, amount]}
destination:
  connector: nats
  config: {url: %q, subject: "%s.copy.{stream}"}
`, natsgo.DefaultURL, name, name, natsgo.DefaultURL, name)
	s, err := pipeline.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // no state file: the second run reads and publishes everything again
		if res := run(t, s, engine.Options{}); res.Streams[0].Written != 12 {
			t.Fatalf("written %d", res.Streams[0].Written)
		}
	}
	ctx := context.Background()
	str, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{name + ".copy.orders"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for m := range msgs.Messages() {
		var v map[string]any
		if err := json.Unmarshal(m.Data(), &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 12 {
		t.Fatalf("%d messages on the destination subject, want 12 (duplicates dropped)", len(got))
	}
	if v := got[4]; v["id"] != float64(5) || v["amount"] != 5.5 || len(v) != 2 {
		t.Errorf("fifth message = %v", v)
	}
}
