package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ names resolve on hosts without a zoneinfo database

	"github.com/robfig/cron/v3"
)

// cronParser reads standard 5-field expressions and descriptors (@hourly,
// @every 10m); seconds fields are not offered.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed `schedule`: when a pipeline's runs are due.
type Schedule struct {
	// Expr is the expression as written.
	Expr string
	// Location is the time zone of the CRON_TZ= (or TZ=) prefix; UTC
	// without one.
	Location *time.Location
	// Every is the interval of an @every schedule, zero for cron
	// expressions.
	Every time.Duration
	cron  cron.Schedule
}

// ParseSchedule reads a cron expression ("0 6 * * 1-5"), a descriptor
// (@hourly, @daily, @every 10m), either optionally prefixed by a time zone:
// "CRON_TZ=Europe/Paris 0 6 * * *". Without a prefix the zone is UTC, so a
// schedule means the same on every host.
func ParseSchedule(expr string) (*Schedule, error) {
	rest := strings.TrimSpace(expr)
	if rest == "" {
		return nil, errors.New("is empty")
	}
	loc := time.UTC
	if first, after, _ := strings.Cut(rest, " "); strings.HasPrefix(first, "TZ=") || strings.HasPrefix(first, "CRON_TZ=") {
		_, name, _ := strings.Cut(first, "=")
		l, err := time.LoadLocation(name)
		if err != nil || name == "" {
			return nil, fmt.Errorf("unknown time zone %q in %q", name, first)
		}
		loc, rest = l, strings.TrimSpace(after)
		if rest == "" {
			return nil, fmt.Errorf("%s is followed by no expression", first)
		}
	}
	c, err := cronParser.Parse(rest)
	if err != nil {
		return nil, fmt.Errorf("%v (want 5 fields \"minute hour day-of-month month day-of-week\", or @hourly, @daily, @weekly, @monthly, @yearly, @every DURATION)", err)
	}
	s := &Schedule{Expr: expr, Location: loc, cron: c}
	switch c := c.(type) {
	case *cron.SpecSchedule:
		c.Location = loc
	case cron.ConstantDelaySchedule:
		if strings.HasPrefix(strings.TrimPrefix(rest, "@every"), " -") {
			return nil, errors.New("@every needs a positive duration")
		}
		s.Every = c.Delay
	}
	return s, nil
}

// Next is the first time the schedule is due strictly after t. @every
// schedules are due at whole multiples of their interval since the Unix
// epoch, so every host computes the same times whatever t it starts from.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.Every > 0 {
		n := t.UnixNano() / int64(s.Every)
		return time.Unix(0, (n+1)*int64(s.Every)).In(s.Location)
	}
	return s.cron.Next(t.In(s.Location))
}

// Latest is the last time the schedule was due at or before now, searched
// from since (a due time); since itself when no later one is due yet. A
// scheduler that was down many slots fires once, for this one.
func (s *Schedule) Latest(since, now time.Time) time.Time {
	if s.Every > 0 {
		if !now.After(since) {
			return since
		}
		n := now.UnixNano() / int64(s.Every)
		return time.Unix(0, n*int64(s.Every)).In(s.Location)
	}
	slot := since
	for {
		n := s.Next(slot)
		if n.IsZero() || n.After(now) {
			return slot
		}
		slot = n
	}
}

// Interval is the time from the due time t to the next one: the default
// grace before a run is late.
func (s *Schedule) Interval(t time.Time) time.Duration {
	if s.Every > 0 {
		return s.Every
	}
	return s.Next(t).Sub(t)
}

// Grace is how long after the due time slot a pipeline without a
// succeeded run since is late: lateAfter (options.late_after, a Go
// duration) when set, else one interval.
func (s *Schedule) Grace(lateAfter string, slot time.Time) time.Duration {
	if d, err := time.ParseDuration(lateAfter); err == nil && d > 0 {
		return d
	}
	return s.Interval(slot)
}

func (s *Spec) validateSchedule(add func(string, string, ...any)) {
	if s.Options.LateAfter != "" {
		if d, err := time.ParseDuration(s.Options.LateAfter); err != nil || d <= 0 {
			add("options.late_after", "must be a positive duration such as \"30m\"")
		}
	}
	if s.Schedule == "" {
		if s.Options.LateAfter != "" {
			add("options.late_after", "applies to scheduled pipelines only: set schedule too")
		}
		return
	}
	sched, err := ParseSchedule(s.Schedule)
	switch {
	case err != nil:
		add("schedule", "%v", err)
	case sched.Every > 0 && sched.Every < time.Second:
		add("schedule", "@every needs at least 1s")
	case sched.Next(time.Now()).IsZero():
		add("schedule", "%q is never due", s.Schedule)
	}
}
