package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// AlertStore keeps notification channels, alert rules and deliveries.
type AlertStore interface {
	CreateAlertChannel(ctx context.Context, c *AlertChannel) error
	// UpdateAlertChannel replaces the name, type and config of the channel
	// with c.ID.
	UpdateAlertChannel(ctx context.Context, c *AlertChannel) error
	AlertChannel(ctx context.Context, id string) (*AlertChannel, error)
	AlertChannels(ctx context.Context, page Page) ([]AlertChannel, error)
	DeleteAlertChannel(ctx context.Context, id string) error

	CreateAlertRule(ctx context.Context, r *AlertRule) error
	// UpdateAlertRule replaces every field of the rule with r.ID.
	UpdateAlertRule(ctx context.Context, r *AlertRule) error
	AlertRule(ctx context.Context, id string) (*AlertRule, error)
	AlertRules(ctx context.Context, page Page) ([]AlertRule, error)
	// EnabledAlertRules lists every enabled rule, for matching events.
	EnabledAlertRules(ctx context.Context) ([]AlertRule, error)
	DeleteAlertRule(ctx context.Context, id string) error

	// AddAlertDeliveries records pending deliveries. A delivery whose rule,
	// channel and key were recorded before is skipped, so an event told
	// twice notifies once; it returns how many were added.
	AddAlertDeliveries(ctx context.Context, ds []*AlertDelivery) (int, error)
	// ClaimAlertDeliveries marks up to limit deliveries that are due (or
	// whose sender's lease expired) as sending until leaseUntil, counting
	// an attempt for each, and returns them. Several processes may claim
	// at once; each delivery goes to one.
	ClaimAlertDeliveries(ctx context.Context, limit int, leaseUntil time.Time) ([]AlertDelivery, error)
	// FinishAlertDelivery records the outcome of an attempt: Status, Attempts,
	// LastError, NextAttemptAt and SentAt of d.
	FinishAlertDelivery(ctx context.Context, d *AlertDelivery) error
	AlertDelivery(ctx context.Context, id string) (*AlertDelivery, error)
	// AlertDeliveries lists deliveries, newest first.
	AlertDeliveries(ctx context.Context, f DeliveryFilter, page Page) ([]AlertDelivery, error)

	// PreviousRunStatus is the status of the pipeline's latest run that
	// succeeded or failed before the run runID finished; empty when there
	// is none.
	PreviousRunStatus(ctx context.Context, pipelineID, runID string) (RunStatus, error)
	// PipelinesByName returns the pipelines with the given names; names
	// that match none are missing from the answer.
	PipelinesByName(ctx context.Context, names []string) ([]Pipeline, error)
}

// AlertChannel is where notifications go: a webhook or an email address
// list. Config is the type's settings, secrets included.
type AlertChannel struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	Config    map[string]any `json:"config"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// AlertRule says which events of which pipelines notify which channels.
type AlertRule struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Events []string `json:"events"`
	// PipelineIDs scope the rule; empty means every pipeline.
	PipelineIDs []string  `json:"pipeline_ids"`
	ChannelIDs  []string  `json:"channel_ids"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// DeliveryStatus is where a delivery is in its life.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending DeliveryStatus = "pending"
	DeliverySending DeliveryStatus = "sending"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
)

// AlertDelivery is one notification of one event to one channel. Rule and
// channel names are kept as they were, so the history survives their
// deletion.
type AlertDelivery struct {
	ID          string `json:"id"`
	RuleID      string `json:"rule_id,omitempty"`
	RuleName    string `json:"rule_name,omitempty"`
	ChannelID   string `json:"channel_id"`
	ChannelName string `json:"channel_name"`
	Event       string `json:"event"`
	PipelineID  string `json:"pipeline_id,omitempty"`
	RunID       string `json:"run_id,omitempty"`
	// Key identifies the event; one delivery per rule, channel and key.
	Key           string          `json:"-"`
	Payload       json.RawMessage `json:"payload"`
	Status        DeliveryStatus  `json:"status"`
	Attempts      int             `json:"attempts"`
	LastError     string          `json:"last_error,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	SentAt        *time.Time      `json:"sent_at,omitempty"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// DeliveryFilter selects deliveries; zero fields select all.
type DeliveryFilter struct {
	Status     []DeliveryStatus
	ChannelID  string
	RuleID     string
	Event      string
	PipelineID string
	RunID      string
	// From and To bound the creation time (From inclusive, To exclusive).
	From, To time.Time
}

var alertMigration = portable(
	`CREATE TABLE alert_channels (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		type TEXT NOT NULL,
		config JSON NOT NULL,
		created_at TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE alert_rules (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		events JSON NOT NULL,
		pipeline_ids JSON NOT NULL,
		channel_ids JSON NOT NULL,
		enabled BOOLEAN NOT NULL,
		created_at TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL)`,
	`CREATE TABLE alert_deliveries (
		id TEXT PRIMARY KEY,
		rule_id TEXT NOT NULL,
		rule_name TEXT NOT NULL,
		channel_id TEXT NOT NULL,
		channel_name TEXT NOT NULL,
		event TEXT NOT NULL,
		pipeline_id TEXT NOT NULL,
		run_id TEXT NOT NULL,
		event_key TEXT NOT NULL,
		payload JSON NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		created_at TIMESTAMP NOT NULL,
		next_attempt_at TIMESTAMP NOT NULL,
		sent_at TIMESTAMP,
		lease_until TIMESTAMP,
		updated_at TIMESTAMP NOT NULL,
		UNIQUE (rule_id, channel_id, event_key))`,
	`CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_attempt_at)`,
	`CREATE INDEX alert_deliveries_created ON alert_deliveries (created_at)`,
	`CREATE INDEX alert_runs_finished ON runs (pipeline_id, finished_at)`,
)

// utc is t as stored: UTC, microseconds, no monotonic reading (SQLite
// compares the stored text, so every value must be written the same way).
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Channels.

const alertChannelCols = `id, name, type, config, created_at, updated_at`

func scanAlertChannel(r interface{ Scan(...any) error }) (*AlertChannel, error) {
	var c AlertChannel
	var cfg []byte
	if err := r.Scan(&c.ID, &c.Name, &c.Type, &cfg, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &c.Config); err != nil {
		return nil, fmt.Errorf("alert channel %s config: %w", c.Name, err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

func (s *sqlStore) CreateAlertChannel(ctx context.Context, c *AlertChannel) error {
	cfg, err := s.sealConfig("alert_channel", c.Type, c.Config)
	if err != nil {
		return fmt.Errorf("alert channel config: %w", err)
	}
	c.ID = uuid.NewString()
	c.CreatedAt = now()
	c.UpdatedAt = c.CreatedAt
	_, err = s.exec(ctx, s.q(`INSERT INTO alert_channels (`+alertChannelCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
		c.ID, c.Name, c.Type, string(cfg), c.CreatedAt, c.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("alert channel %q: %w", c.Name, ErrConflict)
	}
	return err
}

func (s *sqlStore) UpdateAlertChannel(ctx context.Context, c *AlertChannel) error {
	cfg, err := s.sealConfig("alert_channel", c.Type, c.Config)
	if err != nil {
		return fmt.Errorf("alert channel config: %w", err)
	}
	c.UpdatedAt = now()
	res, err := s.exec(ctx, s.q(`UPDATE alert_channels SET name = ?, type = ?, config = ?, updated_at = ? WHERE id = ?`),
		c.Name, c.Type, string(cfg), c.UpdatedAt, c.ID)
	if isUnique(err) {
		return fmt.Errorf("alert channel %q: %w", c.Name, ErrConflict)
	}
	return affected(res, err, "alert channel "+c.ID)
}

func (s *sqlStore) AlertChannel(ctx context.Context, id string) (*AlertChannel, error) {
	c, err := scanAlertChannel(s.db.QueryRowContext(ctx, s.q(`SELECT `+alertChannelCols+` FROM alert_channels WHERE id = ?`), id))
	if err == nil {
		err = s.openConfig("alert channel "+c.Name, c.Config)
	}
	return c, notFound(err, "alert channel "+id)
}

func (s *sqlStore) AlertChannels(ctx context.Context, page Page) ([]AlertChannel, error) {
	page = page.norm()
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+alertChannelCols+` FROM alert_channels ORDER BY name LIMIT ? OFFSET ?`), page.Limit, page.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AlertChannel{}
	for rows.Next() {
		c, err := scanAlertChannel(rows)
		if err == nil {
			err = s.openConfig("alert channel "+c.Name, c.Config)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteAlertChannel(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.q(`DELETE FROM alert_channels WHERE id = ?`), id)
	return affected(res, err, "alert channel "+id)
}

// Rules.

const alertRuleCols = `id, name, events, pipeline_ids, channel_ids, enabled, created_at, updated_at`

func scanAlertRule(r interface{ Scan(...any) error }) (*AlertRule, error) {
	var a AlertRule
	var events, pipes, chans []byte
	if err := r.Scan(&a.ID, &a.Name, &events, &pipes, &chans, &a.Enabled, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		raw []byte
		dst *[]string
	}{{events, &a.Events}, {pipes, &a.PipelineIDs}, {chans, &a.ChannelIDs}} {
		if err := json.Unmarshal(f.raw, f.dst); err != nil {
			return nil, fmt.Errorf("alert rule %s: %w", a.Name, err)
		}
		if *f.dst == nil {
			*f.dst = []string{}
		}
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, nil
}

func ruleLists(r *AlertRule) (events, pipes, chans string, err error) {
	var b [3][]byte
	for i, l := range [][]string{r.Events, r.PipelineIDs, r.ChannelIDs} {
		if l == nil {
			l = []string{}
		}
		if b[i], err = json.Marshal(l); err != nil {
			return "", "", "", fmt.Errorf("alert rule %s: %w", r.Name, err)
		}
	}
	return string(b[0]), string(b[1]), string(b[2]), nil
}

func (s *sqlStore) CreateAlertRule(ctx context.Context, r *AlertRule) error {
	events, pipes, chans, err := ruleLists(r)
	if err != nil {
		return err
	}
	r.ID = uuid.NewString()
	r.CreatedAt = now()
	r.UpdatedAt = r.CreatedAt
	_, err = s.exec(ctx, s.q(`INSERT INTO alert_rules (`+alertRuleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Name, events, pipes, chans, r.Enabled, r.CreatedAt, r.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("alert rule %q: %w", r.Name, ErrConflict)
	}
	return err
}

func (s *sqlStore) UpdateAlertRule(ctx context.Context, r *AlertRule) error {
	events, pipes, chans, err := ruleLists(r)
	if err != nil {
		return err
	}
	r.UpdatedAt = now()
	res, err := s.exec(ctx, s.q(`UPDATE alert_rules SET name = ?, events = ?, pipeline_ids = ?, channel_ids = ?, enabled = ?, updated_at = ? WHERE id = ?`),
		r.Name, events, pipes, chans, r.Enabled, r.UpdatedAt, r.ID)
	if isUnique(err) {
		return fmt.Errorf("alert rule %q: %w", r.Name, ErrConflict)
	}
	return affected(res, err, "alert rule "+r.ID)
}

func (s *sqlStore) AlertRule(ctx context.Context, id string) (*AlertRule, error) {
	r, err := scanAlertRule(s.db.QueryRowContext(ctx, s.q(`SELECT `+alertRuleCols+` FROM alert_rules WHERE id = ?`), id))
	return r, notFound(err, "alert rule "+id)
}

func (s *sqlStore) alertRules(ctx context.Context, query string, args ...any) ([]AlertRule, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AlertRule{}
	for rows.Next() {
		r, err := scanAlertRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

func (s *sqlStore) AlertRules(ctx context.Context, page Page) ([]AlertRule, error) {
	page = page.norm()
	return s.alertRules(ctx, `SELECT `+alertRuleCols+` FROM alert_rules ORDER BY name LIMIT ? OFFSET ?`, page.Limit, page.Offset)
}

func (s *sqlStore) EnabledAlertRules(ctx context.Context) ([]AlertRule, error) {
	return s.alertRules(ctx, `SELECT `+alertRuleCols+` FROM alert_rules WHERE enabled = ? ORDER BY name`, true)
}

func (s *sqlStore) DeleteAlertRule(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.q(`DELETE FROM alert_rules WHERE id = ?`), id)
	return affected(res, err, "alert rule "+id)
}

// Deliveries.

const deliveryCols = `id, rule_id, rule_name, channel_id, channel_name, event, pipeline_id, run_id, event_key, payload,
	status, attempts, last_error, created_at, next_attempt_at, sent_at, updated_at`

func scanDelivery(r interface{ Scan(...any) error }) (*AlertDelivery, error) {
	var d AlertDelivery
	var payload []byte
	var sent sql.NullTime
	if err := r.Scan(&d.ID, &d.RuleID, &d.RuleName, &d.ChannelID, &d.ChannelName, &d.Event, &d.PipelineID, &d.RunID, &d.Key, &payload,
		&d.Status, &d.Attempts, &d.LastError, &d.CreatedAt, &d.NextAttemptAt, &sent, &d.UpdatedAt); err != nil {
		return nil, err
	}
	d.Payload = json.RawMessage(payload)
	d.SentAt = timePtr(sent)
	d.CreatedAt, d.NextAttemptAt, d.UpdatedAt = d.CreatedAt.UTC(), d.NextAttemptAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

func (s *sqlStore) AddAlertDeliveries(ctx context.Context, ds []*AlertDelivery) (int, error) {
	added := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		for _, d := range ds {
			if d.ID == "" {
				d.ID = uuid.NewString()
			}
			if d.Key == "" {
				d.Key = d.ID
			}
			if d.Status == "" {
				d.Status = DeliveryPending
			}
			d.CreatedAt = now()
			d.UpdatedAt = d.CreatedAt
			if d.NextAttemptAt.IsZero() {
				d.NextAttemptAt = d.CreatedAt
			}
			d.NextAttemptAt = utc(d.NextAttemptAt)
			var sent any
			if d.SentAt != nil {
				sent = utc(*d.SentAt)
			}
			payload := d.Payload
			if len(payload) == 0 {
				payload = json.RawMessage(`{}`)
			}
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO alert_deliveries (`+deliveryCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (rule_id, channel_id, event_key) DO NOTHING`),
				d.ID, d.RuleID, d.RuleName, d.ChannelID, d.ChannelName, d.Event, d.PipelineID, d.RunID, d.Key, string(payload),
				d.Status, d.Attempts, d.LastError, d.CreatedAt, d.NextAttemptAt, sent, d.UpdatedAt)
			if err != nil {
				return fmt.Errorf("record delivery of %s to channel %s: %w", d.Event, d.ChannelName, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	return added, err
}

func (s *sqlStore) ClaimAlertDeliveries(ctx context.Context, limit int, leaseUntil time.Time) ([]AlertDelivery, error) {
	at := now()
	leaseUntil = utc(leaseUntil)
	const due = `((status = ? AND next_attempt_at <= ?) OR (status = ? AND lease_until < ?))`
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM alert_deliveries WHERE `+due+` ORDER BY next_attempt_at LIMIT ?`),
		DeliveryPending, at, DeliverySending, at, limit)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []AlertDelivery
	for _, id := range ids {
		// The condition is checked again: another process may have
		// claimed the delivery since the select, and then this update
		// changes nothing.
		res, err := s.exec(ctx, s.q(`UPDATE alert_deliveries SET status = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = ? AND `+due),
			DeliverySending, leaseUntil, at, id, DeliveryPending, at, DeliverySending, at)
		if err != nil {
			return out, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return out, err
		} else if n == 0 {
			continue
		}
		d, err := s.AlertDelivery(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, *d)
	}
	return out, nil
}

func (s *sqlStore) FinishAlertDelivery(ctx context.Context, d *AlertDelivery) error {
	var sent any
	if d.SentAt != nil {
		sent = utc(*d.SentAt)
	}
	d.UpdatedAt = now()
	res, err := s.exec(ctx, s.q(`UPDATE alert_deliveries SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, sent_at = ?, lease_until = NULL, updated_at = ? WHERE id = ?`),
		d.Status, d.Attempts, d.LastError, utc(d.NextAttemptAt), sent, d.UpdatedAt, d.ID)
	return affected(res, err, "alert delivery "+d.ID)
}

func (s *sqlStore) AlertDelivery(ctx context.Context, id string) (*AlertDelivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryCols+` FROM alert_deliveries WHERE id = ?`), id))
	return d, notFound(err, "alert delivery "+id)
}

func (s *sqlStore) AlertDeliveries(ctx context.Context, f DeliveryFilter, page Page) ([]AlertDelivery, error) {
	page = page.norm()
	var where []string
	var args []any
	if len(f.Status) > 0 {
		where = append(where, `status IN (?`+strings.Repeat(`, ?`, len(f.Status)-1)+`)`)
		for _, st := range f.Status {
			args = append(args, st)
		}
	}
	for _, eq := range []struct{ col, v string }{
		{"channel_id", f.ChannelID}, {"rule_id", f.RuleID}, {"event", f.Event}, {"pipeline_id", f.PipelineID}, {"run_id", f.RunID},
	} {
		if eq.v != "" {
			where = append(where, eq.col+` = ?`)
			args = append(args, eq.v)
		}
	}
	if !f.From.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, utc(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, utc(f.To))
	}
	query := `SELECT ` + deliveryCols + ` FROM alert_deliveries`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`
	args = append(args, page.Limit, page.Offset)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AlertDelivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

func (s *sqlStore) PreviousRunStatus(ctx context.Context, pipelineID, runID string) (RunStatus, error) {
	run, err := s.Run(ctx, runID)
	if err != nil {
		return "", err
	}
	before := run.CreatedAt
	if run.FinishedAt != nil {
		before = *run.FinishedAt
	}
	var st RunStatus
	err = s.db.QueryRowContext(ctx, s.q(`SELECT status FROM runs WHERE pipeline_id = ? AND id <> ? AND status IN (?, ?) AND finished_at <= ?
		ORDER BY finished_at DESC, created_at DESC LIMIT 1`),
		pipelineID, runID, Succeeded, Failed, before).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return st, err
}

func (s *sqlStore) PipelinesByName(ctx context.Context, names []string) ([]Pipeline, error) {
	out := []Pipeline{}
	if len(names) == 0 {
		return out, nil
	}
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+pipeCols+` FROM pipelines WHERE name IN (?`+strings.Repeat(`, ?`, len(names)-1)+`) ORDER BY name`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPipe(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}
