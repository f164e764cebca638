package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AttemptStore keeps the attempts of runs: which worker executed each, how
// it ended and when the next one is due. A run's attempt number (its
// attempts count at claim time) is the token of its lease: only the
// attempt that claimed the run last may renew or end it.
type AttemptStore interface {
	// ClaimAttempt is [Store.ClaimRun] on behalf of worker (host:pid): it
	// records the new attempt and returns the one before it, if any. A
	// previous attempt that never ended (its worker died) is marked
	// [AttemptLost]. It returns [ErrLeaseHeld] (an [ErrBusy]) while the run
	// itself is held by a live attempt.
	ClaimAttempt(ctx context.Context, runID, worker string, leaseUntil time.Time) (*Run, *Attempt, error)
	// RenewAttempt extends the lease of the run's attempt and records the
	// progress so far. It returns [ErrLeaseLost] when the attempt no longer
	// holds the run, and the run's status, which says whether it was
	// cancelled.
	RenewAttempt(ctx context.Context, runID string, attempt int, leaseUntil time.Time, progress json.RawMessage) (RunStatus, error)
	// RunState is the run's status and attempt number, cheap enough to ask
	// every second.
	RunState(ctx context.Context, runID string) (RunStatus, int, error)
	// EndAttempt records how the attempt ended and the run's status after
	// it. A run cancelled during the attempt stays cancelled (its result is
	// still recorded). It returns [ErrLeaseLost] when the attempt no longer
	// holds the run.
	EndAttempt(ctx context.Context, runID string, attempt int, end AttemptEnd) error
	// Attempts lists the run's attempts, oldest first.
	Attempts(ctx context.Context, runID string) ([]Attempt, error)
	// RescueRuns queues again every running run whose lease expired before
	// now and marks its attempt lost; it returns those attempts. Of several
	// callers at once, each run is returned to one.
	RescueRuns(ctx context.Context, now time.Time) ([]Attempt, error)
}

// TriggerRetry marks a run created by retrying a finished one.
const TriggerRetry Trigger = "retry"

// Outcome is how an attempt ended; empty while it runs.
type Outcome string

// Attempt outcomes.
const (
	AttemptSucceeded Outcome = "succeeded"
	AttemptFailed    Outcome = "failed"
	AttemptCancelled Outcome = "cancelled"
	// AttemptStopped: its worker stopped and queued the run again.
	AttemptStopped Outcome = "stopped"
	// AttemptLost: its worker stopped renewing the lease (it died).
	AttemptLost Outcome = "lost"
)

var (
	// ErrLeaseHeld means the run itself is running under a live lease.
	ErrLeaseHeld = fmt.Errorf("run is held by a live attempt: %w", ErrBusy)
	// ErrLeaseLost means another attempt holds the run now, or none does.
	ErrLeaseLost = errors.New("the run's lease passed to another attempt")
)

// Attempt is one execution of a run by one worker.
type Attempt struct {
	RunID      string     `json:"run_id"`
	Attempt    int        `json:"attempt"`
	Worker     string     `json:"worker"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Outcome    Outcome    `json:"outcome,omitempty" enum:"succeeded,failed,cancelled,stopped,lost"`
	Error      string     `json:"error,omitempty"`
	// RetryAt is when the next attempt is due after a failure.
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// AttemptEnd is how an attempt ended.
type AttemptEnd struct {
	Outcome Outcome
	// Status is the run's status after the attempt: final, or Queued when
	// another attempt follows.
	Status RunStatus
	Error  string
	// Result, when set, replaces the run's result (or progress).
	Result json.RawMessage
	// RetryAt is when the next attempt is due, after a failure.
	RetryAt *time.Time
}

var attemptMigration = portable(
	`CREATE TABLE run_attempts (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		attempt INTEGER NOT NULL,
		worker TEXT NOT NULL,
		started_at TIMESTAMP NOT NULL,
		finished_at TIMESTAMP,
		outcome TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		retry_at TIMESTAMP,
		PRIMARY KEY (run_id, attempt))`,
	`CREATE INDEX runs_lease ON runs (status, lease_until)`,
)

const attemptCols = `run_id, attempt, worker, started_at, finished_at, outcome, error, retry_at`

func scanAttempt(r interface{ Scan(...any) error }) (*Attempt, error) {
	var a Attempt
	var finished, retry sql.NullTime
	if err := r.Scan(&a.RunID, &a.Attempt, &a.Worker, &a.StartedAt, &finished, &a.Outcome, &a.Error, &retry); err != nil {
		return nil, err
	}
	a.StartedAt = a.StartedAt.UTC()
	a.FinishedAt, a.RetryAt = timePtr(finished), timePtr(retry)
	return &a, nil
}

func (s *sqlStore) ClaimAttempt(ctx context.Context, id, worker string, leaseUntil time.Time) (*Run, *Attempt, error) {
	var run *Run
	var prev *Attempt
	err := s.tx(ctx, func(tx *sql.Tx) error {
		at := now()
		var pipelineID string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT pipeline_id FROM runs WHERE id = ?`), id).Scan(&pipelineID); err != nil {
			return notFound(err, "run "+id)
		}
		// Lock the pipeline's row (PostgreSQL) or the database (SQLite) so
		// two workers cannot both see no live run and both start one.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE pipelines SET updated_at = updated_at WHERE id = ?`), pipelineID); err != nil {
			return err
		}
		r, err := scanRun(tx.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE id = ?`), id))
		if err != nil {
			return notFound(err, "run "+id)
		}
		if r.Status.Done() {
			run = r
			return ErrRunDone
		}
		if r.Status == Running && r.LeaseUntil != nil && r.LeaseUntil.After(at) {
			return ErrLeaseHeld
		}
		var live int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM runs WHERE pipeline_id = ? AND id <> ? AND status = ? AND lease_until > ?`),
			pipelineID, id, Running, at).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return ErrBusy
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, started_at = COALESCE(started_at, ?), lease_until = ?, attempts = attempts + 1 WHERE id = ?`),
			Running, at, leaseUntil.UTC(), id); err != nil {
			return err
		}
		r.Status, r.Attempts, r.LeaseUntil = Running, r.Attempts+1, &leaseUntil
		if r.StartedAt == nil {
			r.StartedAt = &at
		}
		run = r

		p, err := scanAttempt(tx.QueryRowContext(ctx, s.q(`SELECT `+attemptCols+` FROM run_attempts WHERE run_id = ? ORDER BY attempt DESC LIMIT 1`), id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			prev = p
			if p.Outcome == "" {
				// Its worker died without a word: this claim took over an
				// expired lease.
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE run_attempts SET outcome = ?, finished_at = ? WHERE run_id = ? AND attempt = ?`),
					AttemptLost, at, id, p.Attempt); err != nil {
					return err
				}
				prev.Outcome, prev.FinishedAt = AttemptLost, &at
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO run_attempts (run_id, attempt, worker, started_at) VALUES (?, ?, ?, ?)`),
			id, r.Attempts, worker, at)
		return err
	})
	return run, prev, err
}

func (s *sqlStore) RenewAttempt(ctx context.Context, id string, attempt int, leaseUntil time.Time, progress json.RawMessage) (RunStatus, error) {
	var p any
	if progress != nil {
		p = string(progress)
	}
	res, err := s.exec(ctx, s.q(`UPDATE runs SET lease_until = ?, result = COALESCE(?, result) WHERE id = ? AND status = ? AND attempts = ?`),
		leaseUntil.UTC(), p, id, Running, attempt)
	if err := affected(res, err, "running run "+id); !errors.Is(err, ErrNotFound) {
		return Running, err
	}
	status, n, err := s.RunState(ctx, id)
	if err != nil {
		return "", err
	}
	if n != attempt || status != Cancelled {
		return status, fmt.Errorf("run %s attempt %d: %w", id, attempt, ErrLeaseLost)
	}
	return status, nil
}

func (s *sqlStore) RunState(ctx context.Context, id string) (RunStatus, int, error) {
	var status RunStatus
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT status, attempts FROM runs WHERE id = ?`), id).Scan(&status, &n)
	return status, n, notFound(err, "run "+id)
}

func (s *sqlStore) EndAttempt(ctx context.Context, id string, attempt int, end AttemptEnd) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		at := now()
		// Lock the run's row first, so a cancel or a rescue cannot slip in
		// between the check and the update.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET attempts = attempts WHERE id = ?`), id)
		if err := affected(res, err, "run "+id); err != nil {
			return err
		}
		var status RunStatus
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT status, attempts FROM runs WHERE id = ?`), id).Scan(&status, &n); err != nil {
			return err
		}
		if n != attempt || (status != Running && status != Cancelled) {
			return fmt.Errorf("run %s attempt %d: %w", id, attempt, ErrLeaseLost)
		}
		var result any
		if end.Result != nil {
			result = string(end.Result)
		}
		if status == Cancelled {
			end.Outcome = AttemptCancelled
			end.RetryAt = nil
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET result = COALESCE(?, result), lease_until = NULL WHERE id = ?`), result, id); err != nil {
				return err
			}
		} else {
			var finished any
			if end.Status.Done() {
				finished = at
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, error = ?, result = COALESCE(?, result), finished_at = ?, lease_until = NULL WHERE id = ?`),
				end.Status, end.Error, result, finished, id); err != nil {
				return err
			}
		}
		var retry any
		if end.RetryAt != nil {
			retry = end.RetryAt.UTC()
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE run_attempts SET outcome = ?, error = ?, finished_at = ?, retry_at = ? WHERE run_id = ? AND attempt = ?`),
			end.Outcome, end.Error, at, retry, id, attempt)
		return err
	})
}

func (s *sqlStore) Attempts(ctx context.Context, id string) ([]Attempt, error) {
	if _, _, err := s.RunState(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+attemptCols+` FROM run_attempts WHERE run_id = ? ORDER BY attempt`), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

func (s *sqlStore) RescueRuns(ctx context.Context, at time.Time) ([]Attempt, error) {
	at = at.UTC()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, attempts FROM runs WHERE status = ? AND lease_until < ?`), Running, at)
	if err != nil {
		return nil, err
	}
	type cand struct {
		id string
		n  int
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.id, &c.n); err != nil {
			rows.Close()
			return nil, err
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Attempt
	for _, c := range cands {
		var a *Attempt
		err := s.tx(ctx, func(tx *sql.Tx) error {
			// The condition is checked again under the row's lock: of two
			// rescuers, or a rescuer and a late renewal, one wins.
			res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, lease_until = NULL WHERE id = ? AND status = ? AND attempts = ? AND lease_until < ?`),
				Queued, c.id, Running, c.n, at)
			if err := affected(res, err, "run "+c.id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE run_attempts SET outcome = ?, finished_at = ? WHERE run_id = ? AND attempt = ? AND outcome = ''`),
				AttemptLost, now(), c.id, c.n); err != nil {
				return err
			}
			a, err = scanAttempt(tx.QueryRowContext(ctx, s.q(`SELECT `+attemptCols+` FROM run_attempts WHERE run_id = ? AND attempt = ?`), c.id, c.n))
			if errors.Is(err, sql.ErrNoRows) {
				// Claimed before attempts were recorded.
				a, err = &Attempt{RunID: c.id, Attempt: c.n, Outcome: AttemptLost}, nil
			}
			return err
		})
		switch {
		case errors.Is(err, ErrNotFound):
			continue // another rescuer or a late renewal won
		case err != nil:
			return out, fmt.Errorf("rescue run %s: %w", c.id, err)
		}
		out = append(out, *a)
	}
	return out, nil
}
