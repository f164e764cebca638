package kafka_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-data/tributary/pipeline"
)

// topic_regex gathers every matching topic into one stream; the string
// and bytes formats keep each value whole in a column named value.
func TestTopicRegexAndWholeValues(t *testing.T) {
	addrs := cluster(t, "ev.clicks", "ev.views", "other")
	cl := client(t, addrs)
	var recs []*kgo.Record
	for i, topic := range []string{"ev.clicks", "ev.views", "other", "ev.clicks"} {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("plain text %d \xff", i))})
	}
	recs = append(recs, &kgo.Record{Topic: "ev.views", Value: []byte("ok")})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		format                 string
		read, written, refused int64
	}{
		{"bytes", 4, 4, 0},
		{"string", 4, 1, 3}, // not UTF-8: quarantined, not dropped
	} {
		t.Run(tc.format, func(t *testing.T) {
			doc := fmt.Sprintf(`version: 1
name: events-%s
source:
  connector: kafka
  config: {brokers: [%q]}
  streams:
    - {name: events_%s, topic_regex: "ev\\..*", format: %s, sync_mode: incremental_append}
destination:
  connector: sqlite
  config: {path: %q}
`, tc.format, addrs[0], tc.format, tc.format, filepath.Join(dir, "out.db"))
			s, err := pipeline.Parse([]byte(doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			st := run(t, s).Streams[0]
			if st.Read != tc.read || st.Written != tc.written || st.Quarantined != tc.refused {
				t.Fatalf("%+v", st)
			}
			if tc.format != "bytes" {
				return
			}
			db, err := sql.Open("sqlite", filepath.Join(dir, "out.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Query(`SELECT _kafka_topic, value FROM events_bytes ORDER BY _kafka_topic, _kafka_offset`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var topic string
				var value []byte
				if err := rows.Scan(&topic, &value); err != nil {
					t.Fatal(err)
				}
				got = append(got, topic+"="+string(value))
			}
			want := []string{"ev.clicks=plain text 0 \xff", "ev.clicks=plain text 3 \xff", "ev.views=plain text 1 \xff", "ev.views=ok"}
			if !slices.Equal(got, want) {
				t.Errorf("rows = %q, want %q", got, want)
			}
		})
	}
}
