package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RunSort orders a list of runs.
type RunSort string

// The orders of run lists; a leading minus means descending.
const (
	SortNewest   RunSort = "-created_at"
	SortOldest   RunSort = "created_at"
	SortLongest  RunSort = "-duration"
	SortShortest RunSort = "duration"
)

// RunSorts lists every valid [RunSort].
var RunSorts = []RunSort{SortNewest, SortOldest, SortLongest, SortShortest}

// RunFilter selects runs; zero fields select everything.
type RunFilter struct {
	PipelineID string
	// Statuses keeps runs with any of these statuses.
	Statuses []RunStatus
	Trigger  Trigger
	// CreatedFrom and CreatedTo bound created_at: from inclusive, to
	// exclusive.
	CreatedFrom, CreatedTo time.Time
	// Sort is [SortNewest] when empty. Runs not finished have no
	// duration and come last in both duration orders.
	Sort RunSort
}

// runQuery builds the WHERE clause (with its leading space), its
// arguments and the ORDER BY of f.
func (s *sqlStore) runQuery(f RunFilter) (string, []any, string, error) {
	var conds []string
	var args []any
	if f.PipelineID != "" {
		conds, args = append(conds, "pipeline_id = ?"), append(args, f.PipelineID)
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if f.Trigger != "" {
		conds, args = append(conds, "triggered_by = ?"), append(args, f.Trigger)
	}
	if !f.CreatedFrom.IsZero() {
		conds, args = append(conds, "created_at >= ?"), append(args, f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, f.CreatedTo.UTC())
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var order string
	switch f.Sort {
	case "", SortNewest:
		order = "created_at DESC, id"
	case SortOldest:
		order = "created_at, id"
	case SortLongest:
		order = s.durationExpr() + " DESC NULLS LAST, created_at DESC, id"
	case SortShortest:
		order = s.durationExpr() + " NULLS LAST, created_at DESC, id"
	default:
		return "", nil, "", fmt.Errorf("sort %q: want one of %v", f.Sort, RunSorts)
	}
	return where, args, order, nil
}

// durationExpr is a run's duration in seconds, NULL until it finished.
// SQLite keeps times as text ("2006-01-02 15:04:05.999999 +0000 UTC", always
// UTC here), which julianday reads once the zone is cut off.
func (s *sqlStore) durationExpr() string {
	if s.postgres {
		return "EXTRACT(EPOCH FROM (finished_at - started_at))"
	}
	cut := func(col string) string {
		return "julianday(substr(" + col + ", 1, instr(" + col + ", ' +') - 1))"
	}
	return "((" + cut("finished_at") + " - " + cut("started_at") + ") * 86400)"
}

func (s *sqlStore) RunLogsAfter(ctx context.Context, runID string, afterID int64, limit int) ([]RunLog, error) {
	limit = Page{Limit: limit}.norm().Limit
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, run_id, at, level, message FROM run_logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`), runID, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RunLog{}
	for rows.Next() {
		var l RunLog
		if err := rows.Scan(&l.ID, &l.RunID, &l.At, &l.Level, &l.Message); err != nil {
			return nil, err
		}
		l.At = l.At.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}
