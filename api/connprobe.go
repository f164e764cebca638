package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/engine"
	"github.com/tributary-data/tributary/jobs"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// probeTimeout bounds a test, discover or sample of a stored connection, so
// an unreachable system answers with its error instead of hanging the
// request.
const probeTimeout = 30 * time.Second

// MaxSampleRows is the most rows a sample reads.
const MaxSampleRows = 1000

// ConnectionTest is the outcome of checking each role of a connection:
// the roles its connector does not have are absent.
type ConnectionTest struct {
	OK          bool         `json:"ok" doc:"Every role the connector has reached its system"`
	Source      *ProbeResult `json:"source,omitempty"`
	Destination *ProbeResult `json:"destination,omitempty"`
}

// ProbeResult is the outcome of one connector check.
type ProbeResult struct {
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty" doc:"The connector's error, secrets masked"`
	DurationMS float64 `json:"duration_ms"`
}

// SampleIn asks for the first rows of one stream of a connection.
type SampleIn struct {
	Stream string         `json:"stream" minLength:"1" doc:"Stream to read, as a pipeline's stream entry names it"`
	Rows   int            `json:"rows,omitempty" minimum:"0" maximum:"1000" doc:"Rows to read; 20 when 0"`
	Config map[string]any `json:"config,omitempty" doc:"The connector's own settings of the stream entry (a table, a query, a file pattern)"`
}

// Sample is the first rows of a stream, read with nothing written.
type Sample struct {
	Stream string `json:"stream"`
	engine.Table
	// Rejects are the records the source could not read among them.
	Rejects []connector.Reject `json:"rejects"`
}

// The probes connect with the stored credentials, so they need an editor
// as a pipeline preview does.
func (s *server) connectionProbes(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "test-connection", Method: http.MethodPost, Path: "/api/v1/connections/{id}/test", Tags: []string{"connections"},
		Summary:     "Check that a connection reaches its system",
		Description: "Checks the connection as a source and as a destination, as far as its connector offers each. The answer is 200 either way; `ok` says whether every check passed.",
	}, func(ctx context.Context, in *idPath) (*struct{ Body ConnectionTest }, error) {
		c, info, err := s.probed(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body ConnectionTest }{}
		out.Body.OK = true
		check := func(spec *pipeline.Spec, open func(context.Context, *pipeline.Spec) (checker, error)) *ProbeResult {
			ctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			start := time.Now()
			err := jobs.ResolveConnections(ctx, s.store, spec)
			if err == nil {
				var conn checker
				if conn, err = open(ctx, spec); err == nil {
					err = conn.Check(ctx)
					conn.Close()
				}
			}
			r := &ProbeResult{OK: err == nil, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				r.Error = maskSecrets(c, err.Error())
				out.Body.OK = false
			}
			return r
		}
		if info.Source != nil {
			out.Body.Source = check(&pipeline.Spec{Source: pipeline.Source{Connection: c.Name}}, func(ctx context.Context, sp *pipeline.Spec) (checker, error) {
				return engine.OpenSource(ctx, sp)
			})
		}
		if info.Destination != nil {
			out.Body.Destination = check(&pipeline.Spec{Destination: pipeline.Destination{Connection: c.Name}}, func(ctx context.Context, sp *pipeline.Spec) (checker, error) {
				return engine.OpenDestination(ctx, sp)
			})
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "discover-connection", Method: http.MethodPost, Path: "/api/v1/connections/{id}/discover", Tags: []string{"connections"},
		Summary:     "The catalog of streams a connection offers as a source",
		Description: "Each stream with its schema, primary key, cursor candidates and sync modes. Sources whose streams the pipeline defines (REST APIs) offer none here. 422 when the connector reads nothing or the source fails.",
	}, func(ctx context.Context, in *idPath) (*struct{ Body *connector.Catalog }, error) {
		c, src, err := s.openProbeSource(ctx, in.ID, nil)
		if err != nil {
			return nil, err
		}
		defer src.Close()
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		cat, err := src.Discover(ctx)
		if err != nil {
			return nil, huma.Error422UnprocessableEntity("discover failed: " + maskSecrets(c, err.Error()))
		}
		if cat.Streams == nil {
			cat.Streams = []connector.StreamInfo{}
		}
		return &struct{ Body *connector.Catalog }{Body: cat}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "sample-connection", Method: http.MethodPost, Path: "/api/v1/connections/{id}/sample", Tags: []string{"connections"},
		Summary:     "The first rows of one stream of a connection",
		Description: "Reads at most `rows` rows of the stream from the start, writing nothing and keeping no state. Records the source could not read are listed in `rejects`.",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Body SampleIn
	}) (*struct{ Body Sample }, error) {
		rows := in.Body.Rows
		if rows == 0 {
			rows = engine.DefaultPreviewRows
		}
		st := pipeline.Stream{Name: in.Body.Stream, Config: in.Body.Config}
		c, src, err := s.openProbeSource(ctx, in.ID, []pipeline.Stream{st})
		if err != nil {
			return nil, err
		}
		defer src.Close()
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		spec := &pipeline.Spec{Source: pipeline.Source{Streams: []pipeline.Stream{st}}}
		em := &sampleEmitter{rows: rows}
		req := connector.ReadRequest{Streams: spec.ConnectorStreams(), BatchSize: rows, Limit: rows, State: map[string]json.RawMessage{}}
		if err := src.Read(ctx, req, em); err != nil {
			return nil, huma.Error422UnprocessableEntity("sample failed: "+maskSecrets(c, err.Error()), &huma.ErrorDetail{Location: "body.stream", Value: in.Body.Stream, Message: "reading this stream failed"})
		}
		out := &struct{ Body Sample }{Body: Sample{Stream: in.Body.Stream, Table: em.table, Rejects: em.rejects}}
		if out.Body.Rows == nil {
			out.Body.Rows = [][]any{}
		}
		if out.Body.Rejects == nil {
			out.Body.Rejects = []connector.Reject{}
		}
		return out, nil
	})
}

// checker is what sources and destinations share for a test.
type checker interface {
	Check(ctx context.Context) error
	Close() error
}

// probed loads a connection and its connector.
func (s *server) probed(ctx context.Context, id string) (*store.Connection, connector.Info, error) {
	c, err := s.store.Connection(ctx, id)
	if err != nil {
		return nil, connector.Info{}, s.fail(ctx, err)
	}
	info, ok := connector.Lookup(c.Connector)
	if !ok {
		return nil, connector.Info{}, huma.Error422UnprocessableEntity(fmt.Sprintf("connection %q uses the unknown connector %q", c.Name, c.Connector))
	}
	return c, info, nil
}

// openProbeSource opens the connection as a source of streams.
func (s *server) openProbeSource(ctx context.Context, id string, streams []pipeline.Stream) (*store.Connection, connector.Source, error) {
	c, info, err := s.probed(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if info.Source == nil {
		return nil, nil, huma.Error422UnprocessableEntity(fmt.Sprintf("connector %q only writes: it has no streams to read", c.Connector))
	}
	spec := &pipeline.Spec{Source: pipeline.Source{Connection: c.Name, Streams: streams}}
	if err := jobs.ResolveConnections(ctx, s.store, spec); err != nil {
		return nil, nil, s.fail(ctx, err)
	}
	src, err := engine.OpenSource(ctx, spec)
	if err != nil {
		return nil, nil, huma.Error422UnprocessableEntity("open source: " + maskSecrets(c, err.Error()))
	}
	return c, src, nil
}

// maskSecrets hides the connection's secret values (and the password of a
// secret URL) in a message from its connector.
func maskSecrets(c *store.Connection, msg string) string {
	for _, k := range secrets(c.Connector) {
		v, _ := c.Config[k].(string)
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				msg = strings.ReplaceAll(msg, p, Masked)
			}
		}
		msg = strings.ReplaceAll(msg, v, Masked)
	}
	return msg
}

// sampleEmitter keeps the first rows read. A later batch whose schema
// differs is aligned by field name, new fields added at the end.
type sampleEmitter struct {
	mu      sync.Mutex
	rows    int
	table   engine.Table
	rejects []connector.Reject
}

func (e *sampleEmitter) Emit(_ context.Context, b *connector.Batch) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b == nil || b.Schema == nil {
		return nil
	}
	if e.table.Schema == nil {
		e.table.Schema = &connector.Schema{Fields: slices.Clone(b.Schema.Fields)}
	}
	idx := make([]int, len(b.Schema.Fields))
	for i, f := range b.Schema.Fields {
		idx[i] = slices.IndexFunc(e.table.Schema.Fields, func(g connector.Field) bool { return g.Name == f.Name })
		if idx[i] < 0 {
			e.table.Schema.Fields = append(e.table.Schema.Fields, f)
			idx[i] = len(e.table.Schema.Fields) - 1
		}
	}
	for _, r := range b.Rows {
		if len(e.table.Rows) >= e.rows {
			// Sources stop at the request's limit; rows past it were
			// not asked for.
			break
		}
		row := make([]any, len(e.table.Schema.Fields))
		for i, v := range r {
			if i < len(idx) {
				row[idx[i]] = v
			}
		}
		e.table.Rows = append(e.table.Rows, row)
	}
	// Rows kept before a field appeared lack it: pad them.
	for i, r := range e.table.Rows {
		if n := len(e.table.Schema.Fields); len(r) < n {
			e.table.Rows[i] = append(r, make([]any, n-len(r))...)
		}
	}
	return nil
}

func (e *sampleEmitter) Checkpoint(context.Context, string, json.RawMessage) error { return nil }

func (e *sampleEmitter) Reject(_ context.Context, r connector.Reject) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rejects = append(e.rejects, r)
	return nil
}
