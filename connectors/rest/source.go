package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/filesource"
)

func init() {
	connector.RegisterSource(connector.NewSpec[Config, StreamConfig]("rest", "Any JSON API over HTTP: paths, record selectors, pagination, incremental parameters, parent/child streams"), New)
}

// Options are the Go-level settings of a source built on rest by another
// connector.
type Options struct {
	// Transport sends requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
	// InstanceURLField names an OAuth2 token response field holding the
	// base URL of the API (Salesforce's instance_url).
	InstanceURLField string
	// Hooks returns the vendor specifics of a stream, if any.
	Hooks func(stream string, sc StreamConfig) StreamHooks
	// Name is the connector name used in messages; "rest" by default.
	Name string
}

// StreamHooks adapt one stream to an API's own ways.
type StreamHooks struct {
	// Incremental puts the saved cursor ("" on a first run) into the first
	// request, in place of incremental.param: a SOQL WHERE clause, a
	// search filter.
	Incremental func(req *Request, cursor string) error
	// Read replaces the page loop (Salesforce Bulk API 2.0). It hands
	// records over through p.
	Read func(ctx context.Context, c *Client, p *Pages) error
	// Text says record values are text to be typed by their looks (CSV),
	// not JSON values.
	Text bool
	// Expired says an error answering the saved next page means the page
	// position expired; the sync then starts again from its first request.
	Expired func(*StatusError) bool
	// Record reshapes each record before it is typed (drops an API's
	// metadata field, say).
	Record func([]filesource.KV) []filesource.KV
}

// Source is the rest source. It implements [connector.Source].
type Source struct {
	cfg    Config
	set    settings
	opts   Options
	client *Client
}

var _ connector.Source = (*Source)(nil)

// New builds the rest source from its JSON config.
func New(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg Config
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return NewSource(cfg, Options{})
}

// NewSource builds a source from a config made in Go.
func NewSource(cfg Config, opts Options) (*Source, error) {
	set, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "rest"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Source{cfg: cfg, set: set, opts: opts, client: newClient(cfg, set, opts)}, nil
}

// Client returns the HTTP client the source's streams share.
func (s *Source) Client() *Client { return s.client }

// Close releases nothing: connections belong to the transport.
func (s *Source) Close() error { return nil }

// Check reads the first page of every declared stream, or reaches the base
// URL (any answer but a 401 or 403 will do) when none is declared.
func (s *Source) Check(ctx context.Context) error {
	if len(s.cfg.Streams) == 0 {
		base, err := s.client.Base(ctx)
		if err != nil {
			return err
		}
		_, err = s.client.Do(ctx, &Request{URL: base.String()}, nil)
		var se *StatusError
		if err != nil && (!errors.As(err, &se) || se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden) {
			return err
		}
		return nil
	}
	for _, n := range s.cfg.Streams {
		if _, err := s.sample(ctx, connector.Stream{Name: n.Name}, 1); err != nil {
			return fmt.Errorf("stream %s: %w", n.Name, err)
		}
	}
	return nil
}

// Discover offers the streams of the config, typed from a sample of their
// first page.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	n := s.cfg.SampleRecords
	if n <= 0 {
		n = 100
	}
	cat := &connector.Catalog{}
	for _, ns := range s.cfg.Streams {
		schema, err := s.sample(ctx, connector.Stream{Name: ns.Name}, n)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", ns.Name, err)
		}
		info := connector.StreamInfo{
			Name: ns.Name, Schema: schema, PrimaryKey: ns.PrimaryKey,
			SyncModes: []connector.SyncMode{connector.FullRefreshOverwrite, connector.FullRefreshAppend},
		}
		if inc := ns.Incremental; inc != nil && inc.CursorField != "" {
			info.CursorCandidates = []string{inc.CursorField}
			info.SyncModes = append(info.SyncModes, connector.IncrementalAppend)
			if len(ns.PrimaryKey) > 0 {
				info.SyncModes = append(info.SyncModes, connector.IncrementalDedup)
			}
		}
		cat.Streams = append(cat.Streams, info)
	}
	return cat, nil
}

// DiscoverStreams describes the given streams, each with its pipeline
// settings merged over the declared ones: a pipeline may define streams
// the connection does not declare, which Discover cannot know.
func (s *Source) DiscoverStreams(ctx context.Context, streams []connector.Stream) (*connector.Catalog, error) {
	n := s.cfg.SampleRecords
	if n <= 0 {
		n = 100
	}
	cat := &connector.Catalog{}
	for _, st := range streams {
		schema, err := s.sample(ctx, connector.Stream{Name: st.Name, Config: st.Config}, n)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		sc, _ := s.streamConfig(st)
		info := connector.StreamInfo{Name: st.Name, Schema: schema, PrimaryKey: st.PrimaryKey, SyncModes: []connector.SyncMode{connector.FullRefreshOverwrite, connector.FullRefreshAppend}}
		if inc := sc.Incremental; inc != nil {
			cursor := inc.CursorField
			if cursor == "" {
				cursor = st.CursorField
			}
			if cursor != "" {
				info.CursorCandidates = []string{cursor}
				info.SyncModes = append(info.SyncModes, connector.IncrementalAppend, connector.IncrementalDedup)
			}
		}
		cat.Streams = append(cat.Streams, info)
	}
	return cat, nil
}

// sample reads records of a stream's first page (of its first parent) and
// infers their schema.
func (s *Source) sample(ctx context.Context, st connector.Stream, n int) (*connector.Schema, error) {
	e := &sampler{limit: n}
	err := s.readStream(ctx, st, nil, connector.ReadRequest{BatchSize: n, Limit: n}, nil, e)
	if err != nil && err != errSampled {
		return nil, err
	}
	return filesource.InferObjects(e.records, st.Schema, e.text), nil
}

// Read reads each stream in turn.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	for _, st := range req.Streams {
		if err := s.readStream(ctx, st, req.State[st.Name], req, emit); err != nil {
			return fmt.Errorf("stream %s: %w", st.Name, err)
		}
	}
	return nil
}

// streamConfig merges a stream's settings: the declared stream's, then
// the pipeline's.
func (s *Source) streamConfig(st connector.Stream) (StreamConfig, error) {
	var sc StreamConfig
	for _, n := range s.cfg.Streams {
		if n.Name == st.Name {
			sc = n.StreamConfig
		}
	}
	if st.Config != nil {
		var own StreamConfig
		if err := connector.DecodeConfig(st.Config, &own); err != nil {
			return sc, fmt.Errorf("stream settings: %w", err)
		}
		sc = sc.merge(own)
	}
	return sc, nil
}
