package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/store"
)

// AlertChannelIn is a notification channel as created or updated.
type AlertChannelIn struct {
	Name   string         `json:"name" minLength:"1" maxLength:"200" doc:"Unique name"`
	Type   string         `json:"type" enum:"webhook,email" doc:"webhook or email"`
	Config map[string]any `json:"config" doc:"webhook: url, secret (HMAC-SHA256 key), headers, timeout, max_attempts. email: host, port, username, password, from, to, tls (auto|starttls|implicit|none), html, timeout, max_attempts. The secret and the password are never returned, and kept when omitted or masked on update."`
}

// AlertChannel is a channel as returned, secrets masked.
type AlertChannel struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Type      string         `json:"type"`
	Config    map[string]any `json:"config"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// AlertRuleIn is an alert rule as created or updated.
type AlertRuleIn struct {
	Name      string   `json:"name" minLength:"1" maxLength:"200" doc:"Unique name"`
	Events    []string `json:"events" minItems:"1" doc:"Event kinds: run_failed, run_recovered (a success after a failure), check_failed, anomaly_detected, pipeline_late"`
	Pipelines []string `json:"pipelines,omitempty" doc:"Names of the pipelines the rule watches; empty or absent: every pipeline"`
	Channels  []string `json:"channels" minItems:"1" doc:"IDs of the channels to notify"`
	Enabled   *bool    `json:"enabled,omitempty" doc:"Defaults to true"`
}

// AlertRule is a rule as returned.
type AlertRule struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Events    []string  `json:"events"`
	Pipelines []string  `json:"pipelines" doc:"Names of the watched pipelines; empty: every pipeline"`
	Channels  []string  `json:"channels"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AlertDelivery is one notification of one event to one channel.
type AlertDelivery struct {
	ID            string     `json:"id"`
	RuleID        string     `json:"rule_id,omitempty"`
	RuleName      string     `json:"rule_name,omitempty"`
	ChannelID     string     `json:"channel_id"`
	ChannelName   string     `json:"channel_name"`
	Event         string     `json:"event"`
	PipelineID    string     `json:"pipeline_id,omitempty"`
	RunID         string     `json:"run_id,omitempty"`
	Status        string     `json:"status" enum:"pending,sending,sent,failed"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" doc:"When a pending delivery is tried next"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	Payload       any        `json:"payload" doc:"The event as sent"`
}

type alertChannelOut struct{ Body AlertChannel }
type alertChannelsOut struct{ Body List[AlertChannel] }
type alertRuleOut struct{ Body AlertRule }
type alertRulesOut struct{ Body List[AlertRule] }
type alertDeliveryOut struct{ Body AlertDelivery }
type alertDeliveriesOut struct{ Body List[AlertDelivery] }

func maskedChannel(c *store.AlertChannel) AlertChannel {
	cfg := make(map[string]any, len(c.Config))
	sec := alert.Secrets(c.Type)
	for k, v := range c.Config {
		if slices.Contains(sec, k) && v != nil && v != "" {
			v = Masked
		}
		cfg[k] = v
	}
	return AlertChannel{ID: c.ID, Name: c.Name, Type: c.Type, Config: cfg, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func deliveryOf(d *store.AlertDelivery) AlertDelivery {
	out := AlertDelivery{ID: d.ID, RuleID: d.RuleID, RuleName: d.RuleName, ChannelID: d.ChannelID, ChannelName: d.ChannelName,
		Event: d.Event, PipelineID: d.PipelineID, RunID: d.RunID, Status: string(d.Status), Attempts: d.Attempts,
		LastError: d.LastError, CreatedAt: d.CreatedAt, SentAt: d.SentAt, Payload: d.Payload}
	if d.Status == store.DeliveryPending {
		at := d.NextAttemptAt
		out.NextAttemptAt = &at
	}
	return out
}

// checkChannel validates a channel's settings; the problem names each
// bad setting under body.config.
func checkChannel(c *store.AlertChannel) error {
	_, err := alert.ParseChannel(c)
	var fe alert.FieldErrors
	if !errors.As(err, &fe) {
		return err
	}
	details := make([]error, len(fe))
	for i, f := range fe {
		loc := "body.config"
		if f.Path != "" {
			loc += "." + f.Path
		}
		if strings.HasPrefix(f.Msg, "unknown channel type") {
			loc = "body.type"
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: f.Msg}
	}
	return huma.Error422UnprocessableEntity("invalid channel settings", details...)
}

func (s *server) alerts(api huma.API) {
	s.alertChannels(api)
	s.alertRules(api)
	s.alertDeliveries(api)
}

func (s *server) alertChannels(api huma.API) {
	tags := []string{"alerts"}
	huma.Register(api, huma.Operation{
		OperationID: "create-alert-channel", Method: http.MethodPost, Path: "/api/v1/alerts/channels", Tags: tags,
		Summary: "Create a notification channel", DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct{ Body AlertChannelIn }) (*createdOut, error) {
		c := &store.AlertChannel{Name: in.Body.Name, Type: in.Body.Type, Config: in.Body.Config}
		if err := checkChannel(c); err != nil {
			return nil, err
		}
		if err := s.store.CreateAlertChannel(ctx, c); err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &createdOut{}
		out.Body.ID = c.ID
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-alert-channels", Method: http.MethodGet, Path: "/api/v1/alerts/channels", Tags: tags,
		Summary: "List notification channels, filtered by name and type, sorted; secrets masked",
	}, func(ctx context.Context, in *alertChannelListIn) (*alertChannelsOut, error) {
		q := store.AlertListQuery{NameContains: in.Name, Type: in.Type, Sort: strings.TrimPrefix(in.Sort, "-"), Desc: strings.HasPrefix(in.Sort, "-")}
		cs, err := s.store.ListAlertChannels(ctx, q, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]AlertChannel, len(cs))
		for i := range cs {
			items[i] = maskedChannel(&cs[i])
		}
		return &alertChannelsOut{Body: list(items, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-alert-channel", Method: http.MethodGet, Path: "/api/v1/alerts/channels/{id}", Tags: tags,
		Summary: "Get a notification channel, secrets masked",
	}, func(ctx context.Context, in *idPath) (*alertChannelOut, error) {
		c, err := s.store.AlertChannel(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &alertChannelOut{Body: maskedChannel(c)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-alert-channel", Method: http.MethodPut, Path: "/api/v1/alerts/channels/{id}", Tags: tags,
		Summary: "Replace a notification channel; a secret omitted or masked keeps its stored value",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Body AlertChannelIn
	}) (*alertChannelOut, error) {
		old, err := s.store.AlertChannel(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		cfg := map[string]any{}
		for k, v := range in.Body.Config {
			cfg[k] = v
		}
		if old.Type == in.Body.Type {
			for _, k := range alert.Secrets(old.Type) {
				if v, ok := cfg[k]; (!ok || v == Masked) && old.Config[k] != nil {
					cfg[k] = old.Config[k]
				}
			}
		}
		c := &store.AlertChannel{ID: in.ID, Name: in.Body.Name, Type: in.Body.Type, Config: cfg, CreatedAt: old.CreatedAt}
		if err := checkChannel(c); err != nil {
			return nil, err
		}
		if err := s.store.UpdateAlertChannel(ctx, c); err != nil {
			return nil, s.fail(ctx, err)
		}
		return &alertChannelOut{Body: maskedChannel(c)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "delete-alert-channel", Method: http.MethodDelete, Path: "/api/v1/alerts/channels/{id}", Tags: tags,
		Summary: "Delete a notification channel", Description: "Refused (409) while a rule notifies the channel.",
		DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		users, err := s.rulesUsing(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if len(users) > 0 {
			return nil, huma.Error409Conflict(fmt.Sprintf("channel %s is notified by rule(s) %s; remove it from them first", in.ID, strings.Join(users, ", ")))
		}
		if err := s.store.DeleteAlertChannel(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		return nil, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "test-alert-channel", Method: http.MethodPost, Path: "/api/v1/alerts/channels/{id}/test", Tags: tags,
		Summary:     "Send a test notification through the channel",
		Description: "One attempt, at once; recorded as a delivery of event `test`. Answers 502 with the receiver's error when it failed.",
	}, func(ctx context.Context, in *idPath) (*alertDeliveryOut, error) {
		c, err := s.store.AlertChannel(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if err := checkChannel(c); err != nil {
			return nil, err
		}
		d, err := alert.SendTest(ctx, s.store, &alert.Sender{}, c)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if d.Status != store.DeliverySent {
			return nil, huma.NewError(http.StatusBadGateway, fmt.Sprintf("test notification failed (delivery %s): %s", d.ID, d.LastError))
		}
		return &alertDeliveryOut{Body: deliveryOf(d)}, nil
	})
}

// rulesUsing names the rules that notify the channel.
func (s *server) rulesUsing(ctx context.Context, channelID string) ([]string, error) {
	var names []string
	for off := 0; ; off += store.MaxLimit {
		rs, err := s.store.AlertRules(ctx, store.Page{Limit: store.MaxLimit, Offset: off})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if slices.Contains(r.ChannelIDs, channelID) {
				names = append(names, r.Name)
			}
		}
		if len(rs) < store.MaxLimit {
			return names, nil
		}
	}
}

// ruleIn checks a rule and resolves its pipeline names; the problem names
// every bad entry with its index.
func (s *server) ruleIn(ctx context.Context, id string, in *AlertRuleIn) (*store.AlertRule, error) {
	r := &store.AlertRule{ID: id, Name: in.Name, Events: in.Events, PipelineIDs: []string{}, ChannelIDs: in.Channels, Enabled: in.Enabled == nil || *in.Enabled}
	var details []error
	bad := func(loc, msg string, v any) {
		details = append(details, &huma.ErrorDetail{Location: loc, Message: msg, Value: v})
	}
	for i, e := range in.Events {
		if !slices.Contains(alert.Kinds, e) {
			bad(fmt.Sprintf("body.events[%d]", i), "unknown event kind (want "+strings.Join(alert.Kinds, ", ")+")", e)
		}
	}
	if len(in.Pipelines) > 0 {
		ps, err := s.store.PipelinesByName(ctx, in.Pipelines)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		ids := map[string]string{}
		for _, p := range ps {
			ids[p.Name] = p.ID
		}
		for i, name := range in.Pipelines {
			if pid, ok := ids[name]; ok {
				r.PipelineIDs = append(r.PipelineIDs, pid)
			} else {
				bad(fmt.Sprintf("body.pipelines[%d]", i), "no pipeline named "+name, name)
			}
		}
	}
	for i, ch := range in.Channels {
		if _, err := s.store.AlertChannel(ctx, ch); errors.Is(err, store.ErrNotFound) {
			bad(fmt.Sprintf("body.channels[%d]", i), "no channel with id "+ch+" (see GET /api/v1/alerts/channels)", ch)
		} else if err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	if len(details) > 0 {
		return nil, huma.Error422UnprocessableEntity("invalid alert rule", details...)
	}
	return r, nil
}

func (s *server) ruleOut(ctx context.Context, r *store.AlertRule) (AlertRule, error) {
	out := AlertRule{ID: r.ID, Name: r.Name, Events: r.Events, Pipelines: []string{}, Channels: r.ChannelIDs, Enabled: r.Enabled,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, pid := range r.PipelineIDs {
		p, err := s.store.Pipeline(ctx, pid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			out.Pipelines = append(out.Pipelines, pid)
		case err != nil:
			return out, err
		default:
			out.Pipelines = append(out.Pipelines, p.Name)
		}
	}
	return out, nil
}

func (s *server) alertRules(api huma.API) {
	tags := []string{"alerts"}
	huma.Register(api, huma.Operation{
		OperationID: "create-alert-rule", Method: http.MethodPost, Path: "/api/v1/alerts/rules", Tags: tags,
		Summary: "Create an alert rule", DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct{ Body AlertRuleIn }) (*createdOut, error) {
		r, err := s.ruleIn(ctx, "", &in.Body)
		if err != nil {
			return nil, err
		}
		if err := s.store.CreateAlertRule(ctx, r); err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &createdOut{}
		out.Body.ID = r.ID
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-alert-rules", Method: http.MethodGet, Path: "/api/v1/alerts/rules", Tags: tags,
		Summary: "List alert rules, filtered by name and enabled, sorted",
	}, func(ctx context.Context, in *alertRuleListIn) (*alertRulesOut, error) {
		q := store.AlertListQuery{NameContains: in.Name, Sort: strings.TrimPrefix(in.Sort, "-"), Desc: strings.HasPrefix(in.Sort, "-")}
		if in.Enabled != "" {
			on := in.Enabled == "true"
			q.Enabled = &on
		}
		rs, err := s.store.ListAlertRules(ctx, q, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]AlertRule, len(rs))
		for i := range rs {
			if items[i], err = s.ruleOut(ctx, &rs[i]); err != nil {
				return nil, s.fail(ctx, err)
			}
		}
		return &alertRulesOut{Body: list(items, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-alert-rule", Method: http.MethodGet, Path: "/api/v1/alerts/rules/{id}", Tags: tags,
		Summary: "Get an alert rule",
	}, func(ctx context.Context, in *idPath) (*alertRuleOut, error) {
		r, err := s.store.AlertRule(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out, err := s.ruleOut(ctx, r)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &alertRuleOut{Body: out}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-alert-rule", Method: http.MethodPut, Path: "/api/v1/alerts/rules/{id}", Tags: tags,
		Summary: "Replace an alert rule",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Body AlertRuleIn
	}) (*alertRuleOut, error) {
		old, err := s.store.AlertRule(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		r, err := s.ruleIn(ctx, in.ID, &in.Body)
		if err != nil {
			return nil, err
		}
		r.CreatedAt = old.CreatedAt
		if err := s.store.UpdateAlertRule(ctx, r); err != nil {
			return nil, s.fail(ctx, err)
		}
		out, err := s.ruleOut(ctx, r)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &alertRuleOut{Body: out}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "delete-alert-rule", Method: http.MethodDelete, Path: "/api/v1/alerts/rules/{id}", Tags: tags,
		Summary: "Delete an alert rule", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		if err := s.store.DeleteAlertRule(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		return nil, nil
	})
}

// DeliveriesIn filters the deliveries list.
type DeliveriesIn struct {
	PageIn
	Status     string `query:"status" doc:"One or more of pending, sending, sent, failed, comma-separated"`
	ChannelID  string `query:"channel_id"`
	RuleID     string `query:"rule_id"`
	Event      string `query:"event" doc:"Event kind, or test"`
	PipelineID string `query:"pipeline_id"`
	RunID      string `query:"run_id"`
	From       string `query:"from" doc:"Created at or after this time (RFC 3339)"`
	To         string `query:"to" doc:"Created before this time (RFC 3339)"`
}

func (in *DeliveriesIn) filter() (store.DeliveryFilter, error) {
	f := store.DeliveryFilter{ChannelID: in.ChannelID, RuleID: in.RuleID, Event: in.Event, PipelineID: in.PipelineID, RunID: in.RunID}
	var details []error
	if in.Status != "" {
		for st := range strings.SplitSeq(in.Status, ",") {
			st = strings.TrimSpace(st)
			switch ds := store.DeliveryStatus(st); ds {
			case store.DeliveryPending, store.DeliverySending, store.DeliverySent, store.DeliveryFailed:
				f.Status = append(f.Status, ds)
			default:
				details = append(details, &huma.ErrorDetail{Location: "query.status", Message: "unknown status (want pending, sending, sent or failed)", Value: st})
			}
		}
	}
	for _, t := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", in.From, &f.From}, {"to", in.To, &f.To}} {
		if t.v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			details = append(details, &huma.ErrorDetail{Location: "query." + t.name, Message: "not an RFC 3339 time such as 2026-01-02T15:04:05Z", Value: t.v})
		}
		*t.dst = at
	}
	if len(details) > 0 {
		return f, huma.Error422UnprocessableEntity("invalid filter", details...)
	}
	return f, nil
}

func (s *server) alertDeliveries(api huma.API) {
	tags := []string{"alerts"}
	huma.Register(api, huma.Operation{
		OperationID: "list-alert-deliveries", Method: http.MethodGet, Path: "/api/v1/alerts/deliveries", Tags: tags,
		Summary: "List notification deliveries, newest first",
	}, func(ctx context.Context, in *DeliveriesIn) (*alertDeliveriesOut, error) {
		f, err := in.filter()
		if err != nil {
			return nil, err
		}
		ds, err := s.store.AlertDeliveries(ctx, f, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]AlertDelivery, len(ds))
		for i := range ds {
			items[i] = deliveryOf(&ds[i])
		}
		return &alertDeliveriesOut{Body: list(items, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-alert-delivery", Method: http.MethodGet, Path: "/api/v1/alerts/deliveries/{id}", Tags: tags,
		Summary: "Get a notification delivery",
	}, func(ctx context.Context, in *idPath) (*alertDeliveryOut, error) {
		d, err := s.store.AlertDelivery(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &alertDeliveryOut{Body: deliveryOf(d)}, nil
	})
}

type alertChannelListIn struct {
	PageIn
	Name string `query:"name" doc:"Keep channels whose name contains this, ignoring case"`
	Type string `query:"type" enum:"webhook,email" doc:"Keep channels of this type"`
	Sort string `query:"sort" enum:"name,-name,created_at,-created_at,updated_at,-updated_at" default:"name" doc:"Sort key; a leading - sorts descending"`
}

type alertRuleListIn struct {
	PageIn
	Name    string `query:"name" doc:"Keep rules whose name contains this, ignoring case"`
	Enabled string `query:"enabled" enum:"true,false" doc:"Keep enabled (true) or disabled (false) rules"`
	Sort    string `query:"sort" enum:"name,-name,created_at,-created_at,updated_at,-updated_at" default:"name" doc:"Sort key; a leading - sorts descending"`
}
