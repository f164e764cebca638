package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/pipeline"
)

func TestParseSchedule(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 28, 12, 0, 30, 0, time.UTC) // the day before Paris moves to summer time
	cases := []struct {
		expr string
		want []time.Time // the next due times after from
		err  string
	}{
		{expr: "*/15 * * * *", want: []time.Time{
			time.Date(2026, 3, 28, 12, 15, 0, 0, time.UTC), time.Date(2026, 3, 28, 12, 30, 0, 0, time.UTC)}},
		{expr: "@hourly", want: []time.Time{
			time.Date(2026, 3, 28, 13, 0, 0, 0, time.UTC), time.Date(2026, 3, 28, 14, 0, 0, 0, time.UTC)}},
		{expr: "@daily", want: []time.Time{
			time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)}},
		{expr: "@every 10m", want: []time.Time{
			time.Date(2026, 3, 28, 12, 10, 0, 0, time.UTC), time.Date(2026, 3, 28, 12, 20, 0, 0, time.UTC)}},
		// 06:00 in Paris is 05:00 UTC in winter and 04:00 UTC in summer.
		{expr: "CRON_TZ=Europe/Paris 0 6 * * *", want: []time.Time{
			time.Date(2026, 3, 29, 6, 0, 0, 0, paris), time.Date(2026, 3, 30, 6, 0, 0, 0, paris)}},
		{expr: "TZ=Europe/Paris @daily", want: []time.Time{
			time.Date(2026, 3, 29, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris)}},
		{expr: "0 6 * * 1-5", want: []time.Time{
			time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 6, 0, 0, 0, time.UTC)}},
		{expr: "", err: "is empty"},
		{expr: "* * *", err: "expected exactly 5 fields"},
		{expr: "61 * * * *", err: "above maximum"},
		{expr: "0 0 * * * *", err: "expected exactly 5 fields"},
		{expr: "@fortnightly", err: "unrecognized descriptor"},
		{expr: "@every soon", err: "failed to parse duration"},
		{expr: "CRON_TZ=Mars/Olympus 0 6 * * *", err: `unknown time zone "Mars/Olympus"`},
		{expr: "CRON_TZ=Europe/Paris", err: "followed by no expression"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			s, err := pipeline.ParseSchedule(c.expr)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			at := from
			for i, w := range c.want {
				at = s.Next(at)
				if !at.Equal(w) {
					t.Fatalf("due time %d: %v, want %v", i+1, at, w)
				}
			}
		})
	}
}

func TestScheduleLatestFiresOnceForMissedSlots(t *testing.T) {
	cases := []struct {
		expr        string
		since, now  time.Time
		want        time.Time
		wantGrace   time.Duration
		lateAfterIn string
	}{
		// Down from 10:00 to 13:20: one slot, the latest one.
		{"@hourly", at(10, 0), at(13, 20), at(13, 0), time.Hour, ""},
		{"*/5 * * * *", at(10, 0), at(10, 17), at(10, 15), 5 * time.Minute, ""},
		{"@every 2m", at(10, 0), at(10, 9), at(10, 8), 2 * time.Minute, ""},
		// Nothing due since: the slot itself.
		{"@hourly", at(10, 0), at(10, 30), at(10, 0), time.Hour, ""},
		{"@hourly", at(10, 0), at(10, 30), at(10, 0), 90 * time.Second, "90s"},
	}
	for _, c := range cases {
		s, err := pipeline.ParseSchedule(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Latest(c.since, c.now); !got.Equal(c.want) {
			t.Errorf("%s: latest slot from %v to %v = %v, want %v", c.expr, c.since, c.now, got, c.want)
		}
		if got := s.Grace(c.lateAfterIn, c.want); got != c.wantGrace {
			t.Errorf("%s: grace %v, want %v", c.expr, got, c.wantGrace)
		}
	}
}

func at(h, m int) time.Time { return time.Date(2026, 5, 4, h, m, 0, 0, time.UTC) }

func TestScheduleValidation(t *testing.T) {
	base := `version: 1
name: sched
source: {connection: files, streams: [{name: x}]}
destination: {connection: warehouse}
`
	cases := []struct {
		extra string
		want  []string // "path: message part"
	}{
		{"schedule: \"@every 10m\"\n", nil},
		{"schedule: \"CRON_TZ=Europe/Paris 0 6 * * *\"\noptions: {late_after: 2h}\n", nil},
		{"schedule: \"0 25 * * *\"\n", []string{"schedule: above maximum"}},
		{"schedule: \"0 0 30 2 *\"\n", []string{"schedule: is never due"}},
		{"schedule: \"@every 10m\"\noptions: {late_after: soon}\n", []string{"options.late_after: must be a positive duration"}},
		{"options: {late_after: 1h}\n", []string{"options.late_after: applies to scheduled pipelines only"}},
	}
	for _, c := range cases {
		spec, err := pipeline.Parse([]byte(base+c.extra), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = spec.Validate()
		var got []string
		if errs, ok := err.(pipeline.Errors); ok {
			for _, e := range errs {
				got = append(got, e.Path+": "+e.Msg)
			}
		} else if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		if len(got) != len(c.want) {
			t.Errorf("%q: errors %q, want %q", c.extra, got, c.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], strings.SplitN(c.want[i], ": ", 2)[0]+": ") || !strings.Contains(got[i], strings.SplitN(c.want[i], ": ", 2)[1]) {
				t.Errorf("%q: error %q, want %q", c.extra, got[i], c.want[i])
			}
		}
	}
}
