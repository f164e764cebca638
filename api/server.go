package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tributary-data/tributary/store"
)

// Queue enqueues runs for the workers.
type Queue interface {
	Enqueue(ctx context.Context, runID string) error
}

// Config is what the API serves from.
type Config struct {
	Store store.Store
	Queue Queue
	// Gatherer is served at /metrics; prometheus.DefaultGatherer when nil.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Version is the API version shown in the OpenAPI document.
	Version string
	// DataDir holds the local state files (state/PIPELINE_ID.json) of
	// pipelines whose destination cannot keep state; a stream's reset
	// clears them there.
	DataDir string
	// Auth turns on authentication, per-route roles and the audit log;
	// nil leaves every route open.
	Auth *AuthConfig
	// UI serves the web interface at / (paths no route above claims);
	// nil serves no UI.
	UI http.Handler
}

type server struct {
	store store.Store
	queue Queue
	log   *slog.Logger
	data  string
	// version is the running build, shown by the health page.
	version string
	sec     *security
}

// New builds the HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	mux := http.NewServeMux()
	hc := huma.DefaultConfig("Tributary", cfg.Version)
	hc.Info.Description = "Pipelines, connections and runs of a Tributary server."
	hc.OpenAPIPath = "/api/openapi"
	// The reference at /api/docs is rendered by the server (reference.go).
	hc.DocsPath = ""
	hc.SchemasPath = "/api/schemas"
	// Bodies stay plain JSON: no $schema links added to every response.
	hc.CreateHooks = nil
	api := humago.New(mux, hc)

	s := &server{store: cfg.Store, queue: cfg.Queue, log: cfg.Logger, data: cfg.DataDir, version: cfg.Version}
	s.sec = newSecurity(cfg.Auth)
	if cfg.Auth != nil {
		api.UseMiddleware(s.accessGuard(api))
	}
	s.health(api)
	s.connections(api)
	s.pipelines(api)
	s.runs(api)
	s.connectors(api)
	s.schedules(api)
	s.quarantine(api)
	s.versions(api)
	s.analytics(api)
	s.alerts(api)
	s.attempts(api)
	s.authRoutes(api)
	s.oidcRoutes(api)
	s.users(api)
	s.tokens(api)
	s.auditLog(api)
	mux.Handle("GET /api/docs", reference(api))
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	if cfg.UI != nil {
		mux.Handle("/", cfg.UI)
	}
	return harden(mux, cfg.Auth)
}

type healthOut struct {
	Body struct {
		Status string `json:"status" example:"ok"`
	}
}

func (s *server) health(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"health"},
		Summary: "The process is alive",
	}, func(context.Context, *struct{}) (*healthOut, error) {
		out := &healthOut{}
		out.Body.Status = "ok"
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"health"},
		Summary: "The metadata store answers",
	}, func(ctx context.Context, _ *struct{}) (*healthOut, error) {
		if err := s.store.Ping(ctx); err != nil {
			return nil, huma.Error503ServiceUnavailable("metadata store unavailable", err)
		}
		out := &healthOut{}
		out.Body.Status = "ok"
		return out, nil
	})
}

// fail turns a store error into a problem response; unexpected errors are
// logged and answered without their text.
func (s *server) fail(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return huma.Error404NotFound(err.Error())
	case errors.Is(err, store.ErrConflict):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "request cancelled")
	}
	s.log.ErrorContext(ctx, "api request failed", "error", err)
	return huma.Error500InternalServerError("internal error")
}

// PageIn is the paging of list endpoints.
type PageIn struct {
	Limit  int `query:"limit" minimum:"0" maximum:"500" default:"50" doc:"Items per page"`
	Offset int `query:"offset" minimum:"0" default:"0" doc:"Items to skip"`
}

func (p PageIn) page() store.Page { return store.Page{Limit: p.Limit, Offset: p.Offset} }

// List is one page of items; NextOffset is set when more may follow.
type List[T any] struct {
	Items      []T  `json:"items"`
	NextOffset *int `json:"next_offset,omitempty"`
}

func list[T any](items []T, p PageIn) List[T] {
	l := List[T]{Items: items}
	limit := p.page().Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	if len(items) >= limit {
		n := p.Offset + len(items)
		l.NextOffset = &n
	}
	return l
}
