package jobs

import (
	"math/rand/v2"
	"time"

	"github.com/tributary-data/tributary/pipeline"
)

// Defaults of a served run's retries and of how promptly it notices a
// cancel.
const (
	// DefaultRetryBackoff is the wait before a first retry.
	DefaultRetryBackoff = 30 * time.Second
	// MaxRetryBackoff caps the doubling waits (unless the pipeline's own
	// base wait is longer).
	MaxRetryBackoff = 10 * time.Minute
	// DefaultCancelPoll is how often a running run's status is checked.
	DefaultCancelPoll = time.Second
)

// runOptions are the pipeline options that govern attempts.
type runOptions struct {
	retries int
	backoff time.Duration
	timeout time.Duration
}

// runOptionsOf reads them from a validated spec.
func runOptionsOf(spec *pipeline.Spec) runOptions {
	o := runOptions{retries: spec.Options.Retries, backoff: DefaultRetryBackoff}
	if d, err := time.ParseDuration(spec.Options.RetryBackoff); err == nil && d > 0 {
		o.backoff = d
	}
	if d, err := time.ParseDuration(spec.Options.Timeout); err == nil && d > 0 {
		o.timeout = d
	}
	return o
}

// Backoff is the wait before retry n (from 1): base doubled for each
// retry before it, capped at MaxRetryBackoff (or base when longer), then
// jittered down by up to half so that runs failing together do not retry
// together.
func Backoff(base time.Duration, n int) time.Duration {
	limit := max(MaxRetryBackoff, base)
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return d - half + rand.N(half+1)
}
