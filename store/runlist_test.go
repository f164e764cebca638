package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tributary-data/tributary/store"
)

func TestRunList(t *testing.T) {
	each(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		_, sqlite := s.(*store.SQLite)
		p := &store.Pipeline{Name: "orders"}
		if err := s.CreatePipeline(ctx, p, json.RawMessage(`{"name":"orders"}`)); err != nil {
			t.Fatal(err)
		}
		// A pipeline runs one run at a time: the second one ends a run
		// while the first has one running.
		p2 := &store.Pipeline{Name: "users"}
		if err := s.CreatePipeline(ctx, p2, json.RawMessage(`{"name":"users"}`)); err != nil {
			t.Fatal(err)
		}
		newRunOf := func(pipelineID string) string {
			t.Helper()
			r, err := s.CreateRun(ctx, store.NewRun{PipelineID: pipelineID})
			if err != nil {
				t.Fatal(err)
			}
			return r.ID
		}
		newRun := func() string { return newRunOf(p.ID) }
		// A full result as the engine stores it: the counts sit among
		// profiles, checks and timings, which lists leave out.
		full := `{"run_id":"x","status":"succeeded","duration_ns":5,"streams":[
			{"name":"users","read":10,"written":8,"quarantined":1,"filtered":1,"deduplicated":0,"duration_ns":3,"rows_per_second":2.5,
			 "profile":[{"column":"id","null_ratio":0}],"checks":[{"name":"not_null","passed":true}]},
			{"name":"orders","read":7,"written":4,"quarantined":0,"filtered":2,"deduplicated":1}],
			"anomalies":[{"metric":"duration"}]}`
		queued := newRun()

		progress := newRun()
		claimed, _, err := s.ClaimAttempt(ctx, progress, "w1", time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RenewAttempt(ctx, progress, claimed.Attempts, time.Now().Add(time.Minute), json.RawMessage(`{"streams":[{"name":"users","read":3,"written":2}]}`)); err != nil {
			t.Fatal(err)
		}
		// A renewal without progress keeps the last one.
		if _, err := s.RenewAttempt(ctx, progress, claimed.Attempts, time.Now().Add(time.Minute), nil); err != nil {
			t.Fatal(err)
		}

		ended := newRunOf(p2.ID)
		if claimed, _, err = s.ClaimAttempt(ctx, ended, "w1", time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RenewAttempt(ctx, ended, claimed.Attempts, time.Now().Add(time.Minute), json.RawMessage(`{"streams":[{"name":"users","read":1}]}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.EndAttempt(ctx, ended, claimed.Attempts, store.AttemptEnd{Outcome: store.AttemptSucceeded, Status: store.Succeeded, Result: json.RawMessage(full)}); err != nil {
			t.Fatal(err)
		}

		finished := newRun()
		// Fields missing or of another type read as "" and 0, entries that
		// are not objects are left out: lists pass the counts on as the
		// store wrote them.
		if err := s.FinishRun(ctx, finished, store.Failed, "boom", json.RawMessage(`{"streams":[{"name":"b","read":1,"written":1},{"name":"a","read":2,"written":"3","filtered":null,"deduplicated":2.7},7,{"name":4,"quarantined":2}]}`)); err != nil {
			t.Fatal(err)
		}
		noStreams := newRun()
		if err := s.FinishRun(ctx, noStreams, store.Failed, "early", json.RawMessage(`{"error":"no source","streams":null}`)); err != nil {
			t.Fatal(err)
		}

		want := map[string][]store.StreamCount{
			queued:   nil,
			progress: {{Name: "users", Read: 3, Written: 2}},
			ended: {
				{Name: "users", Read: 10, Written: 8, Quarantined: 1, Filtered: 1},
				{Name: "orders", Read: 7, Written: 4, Filtered: 2, Deduplicated: 1},
			},
			finished:  {{Name: "b", Read: 1, Written: 1}, {Name: "a", Read: 2, Deduplicated: 2}, {Quarantined: 2}},
			noStreams: nil,
		}
		if sqlite {
			// The embedded store keeps results as text: a result that is
			// not JSON is stored as before, with no counts.
			bad := newRun()
			if err := s.FinishRun(ctx, bad, store.Failed, "", json.RawMessage(`{"streams":[`)); err != nil {
				t.Fatalf("result that is not JSON: %v", err)
			}
			want[bad] = nil
		}
		check := func(t *testing.T) {
			t.Helper()
			rows, err := s.RunList(ctx, store.RunFilter{}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(rows), len(want))
			}
			for _, r := range rows {
				w, ok := want[r.ID]
				if !ok {
					t.Fatalf("unexpected run %s", r.ID)
				}
				if !slices.Equal(r.Streams, w) {
					t.Errorf("run %s streams %+v, want %+v", r.ID, r.Streams, w)
				}
				if r.Result != nil {
					t.Errorf("run %s: list row carries the result", r.ID)
				}
				full, err := s.Run(ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				full.Result, full.LeaseUntil = nil, nil
				if r.Run.ID != full.ID || r.Status != full.Status || r.Error != full.Error || r.Attempts != full.Attempts ||
					r.Trigger != full.Trigger || r.Version != full.Version || !r.CreatedAt.Equal(full.CreatedAt) ||
					!timeEq(r.StartedAt, full.StartedAt) || !timeEq(r.FinishedAt, full.FinishedAt) {
					t.Errorf("row %+v, run %+v", r.Run, *full)
				}
			}
		}
		t.Run("written", check)

		// Runs stored before the column existed get their counts from the
		// migration's backfill.
		db := s.(interface{ DB() *sql.DB }).DB()
		if _, err := db.ExecContext(ctx, `UPDATE runs SET streams = NULL`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, store.RunStreamsBackfill(!sqlite)); err != nil {
			t.Fatal(err)
		}
		t.Run("backfilled", check)

		// Lists agree with Runs on filters, order and pages.
		for _, f := range []store.RunFilter{
			{},
			{Sort: store.SortOldest},
			{Sort: store.SortLongest},
			{Statuses: []store.RunStatus{store.Failed}},
			{PipelineID: p.ID, Statuses: []store.RunStatus{store.Succeeded, store.Running}},
		} {
			for _, page := range []store.Page{{}, {Limit: 2, Offset: 1}} {
				runs, err := s.Runs(ctx, f, page)
				if err != nil {
					t.Fatal(err)
				}
				rows, err := s.RunList(ctx, f, page)
				if err != nil {
					t.Fatal(err)
				}
				var a, b []string
				for _, r := range runs {
					a = append(a, r.ID)
				}
				for _, r := range rows {
					b = append(b, r.ID)
				}
				if !slices.Equal(a, b) {
					t.Errorf("filter %+v page %+v: RunList %v, Runs %v", f, page, b, a)
				}
			}
		}
		if _, err := s.RunList(ctx, store.RunFilter{Sort: "size"}, store.Page{}); err == nil {
			t.Error("unknown sort accepted")
		}
	})
}

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestParseStreamCounts(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []store.StreamCount
		err      bool
	}{
		{"empty", `[]`, []store.StreamCount{}, false},
		{"sqlite", `[{"name":"a","read":1,"written":2,"quarantined":3,"filtered":4,"deduplicated":5},{"name":"b","read":0,"written":0,"quarantined":0,"filtered":0,"deduplicated":0}]`,
			[]store.StreamCount{{"a", 1, 2, 3, 4, 5}, {Name: "b"}}, false},
		{"postgres", `[{"name": "a", "read": 1, "written": 2, "filtered": 4, "quarantined": 3, "deduplicated": 5}]`,
			[]store.StreamCount{{"a", 1, 2, 3, 4, 5}}, false},
		{"spaces", " [ { \"read\" : -7 ,\n\"name\":\"x y\" } ] ", []store.StreamCount{{Name: "x y", Read: -7}}, false},
		{"escaped name", `[{"name":"a\"b\u00fc","read":1}]`, []store.StreamCount{{Name: `a"bü`, Read: 1}}, false},
		{"utf-8 name", `[{"name":"ünï","read":1}]`, []store.StreamCount{{Name: "ünï", Read: 1}}, false},
		{"largest", `[{"name":"a","read":9223372036854775807}]`, []store.StreamCount{{Name: "a", Read: 9223372036854775807}}, false},
		{"unknown field", `[{"name":"a","lag":3,"read":1}]`, []store.StreamCount{{Name: "a", Read: 1}}, false},
		{"overflow", `[{"name":"a","read":92233720368547758070}]`, nil, true},
		{"fraction", `[{"name":"a","read":1.5}]`, nil, true},
		{"truncated", `[{"name":"a","read":1}`, nil, true},
		{"trailing", `[]x`, nil, true},
		{"not an array", `{"name":"a"}`, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := store.ParseStreamCounts([]byte(c.in))
			if (err != nil) != c.err {
				t.Fatalf("error %v, want error %v", err, c.err)
			}
			if !c.err && (got == nil || !slices.Equal(got, c.want)) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestParseStoredTime(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	for _, c := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "2026-11-25 05:01:02 +0000 UTC", want: utc("2026-11-25T05:01:02Z")},
		{in: "2026-11-25 05:01:02.5 +0000 UTC", want: utc("2026-11-25T05:01:02.5Z")},
		{in: "2026-11-25 05:01:02.123456 +0000 UTC", want: utc("2026-11-25T05:01:02.123456Z")},
		{in: "2026-11-25 05:01:02.123456789 +0000 UTC", want: utc("2026-11-25T05:01:02.123456789Z")},
		{in: "2024-02-29 23:59:59.000001 +0000 UTC", want: utc("2024-02-29T23:59:59.000001Z")},
		{in: "2026-11-25 06:01:02.25 +0100 CET", want: utc("2026-11-25T05:01:02.25Z")},
		{in: "2026-11-25 05:01:02", want: utc("2026-11-25T05:01:02Z")},
		{in: "2026-11-25T05:01:02+00:00", want: utc("2026-11-25T05:01:02Z")},
		{in: "2025-02-29 05:01:02 +0000 UTC", err: true},
		{in: "2026-13-25 05:01:02 +0000 UTC", err: true},
		{in: "2026-11-25 05:01:02. +0000 UTC", err: true},
		{in: "2026-11-25 05:01:0x +0000 UTC", err: true},
		{in: "yesterday", err: true},
	} {
		got, err := store.ParseStoredTime([]byte(c.in))
		if (err != nil) != c.err {
			t.Errorf("%q: error %v, want error %v", c.in, err, c.err)
			continue
		}
		if !c.err && (!got.Equal(c.want) || got.Location() != time.UTC) {
			t.Errorf("%q: got %v, want %v", c.in, got, c.want)
		}
	}
	// Whatever the driver writes reads back the same.
	for i := range 2000 {
		want := time.Unix(int64(i)*7919*3600+int64(i)*37, int64(i)*987654321%1e9).UTC()
		if i%3 == 0 {
			want = want.Truncate(time.Microsecond)
		}
		got, err := store.ParseStoredTime([]byte(want.String()))
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: got %v, %v", want.String(), got, err)
		}
	}
}
