package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// Masked replaces secret config values in every response.
const Masked = "********"

// ConnectionIn is a connection as created or updated.
type ConnectionIn struct {
	Name      string         `json:"name" minLength:"1" maxLength:"200" doc:"Unique name pipelines refer to"`
	Connector string         `json:"connector" minLength:"1" doc:"Connector name, see GET /api/v1/connectors"`
	Config    map[string]any `json:"config,omitempty" doc:"Connector config; secret fields are never returned and kept when omitted or masked on update"`
}

// Connection is a connection as returned, secrets masked.
type Connection struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Connector string         `json:"connector"`
	Config    map[string]any `json:"config"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

type idPath struct {
	ID string `path:"id"`
}

type createdOut struct {
	Body struct {
		ID string `json:"id"`
	}
}

type connectionOut struct{ Body Connection }

type connectionsOut struct{ Body List[Connection] }

// secrets are the secret config fields of a connector, as source or
// destination.
func secrets(name string) []string {
	info, ok := connector.Lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, sp := range []*connector.Spec{info.Source, info.Destination} {
		if sp != nil {
			out = append(out, sp.Secrets...)
		}
	}
	return out
}

func masked(c *store.Connection) Connection {
	cfg := make(map[string]any, len(c.Config))
	sec := secrets(c.Connector)
	for k, v := range c.Config {
		if slices.Contains(sec, k) && v != nil && v != "" {
			v = Masked
		}
		cfg[k] = v
	}
	return Connection{ID: c.ID, Name: c.Name, Connector: c.Connector, Config: cfg, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func checkConnector(name string) error {
	if _, ok := connector.Lookup(name); !ok {
		return huma.Error422UnprocessableEntity("unknown connector", &huma.ErrorDetail{
			Location: "body.connector", Message: "unknown connector " + name + " (see GET /api/v1/connectors)", Value: name,
		})
	}
	return nil
}

// checkConfig answers 422 with every error of a connection's config, each
// at its path under body.config. Values are left out: they may be secrets.
func checkConfig(c *store.Connection) error {
	errs := pipeline.ValidateConnection(c.Connector, c.Config)
	if len(errs) == 0 {
		return nil
	}
	details := make([]error, len(errs))
	for i, e := range errs {
		loc := "body.config"
		if e.Path != "" {
			loc += "." + e.Path
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: e.Msg}
	}
	return huma.Error422UnprocessableEntity("invalid connection config", details...)
}

func (s *server) connections(api huma.API) {
	s.connectionProbes(api)
	huma.Register(api, huma.Operation{
		OperationID: "create-connection", Method: http.MethodPost, Path: "/api/v1/connections", Tags: []string{"connections"},
		Summary: "Create a connection", DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct{ Body ConnectionIn }) (*createdOut, error) {
		if err := checkConnector(in.Body.Connector); err != nil {
			return nil, err
		}
		c := &store.Connection{Name: in.Body.Name, Connector: in.Body.Connector, Config: in.Body.Config}
		if err := checkConfig(c); err != nil {
			return nil, err
		}
		if err := s.store.CreateConnection(ctx, c); err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &createdOut{}
		out.Body.ID = c.ID
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-connections", Method: http.MethodGet, Path: "/api/v1/connections", Tags: []string{"connections"},
		Summary: "List connections, filtered by name and connector, sorted",
	}, func(ctx context.Context, in *connectionListIn) (*connectionsOut, error) {
		q := store.ConnectionQuery{NameContains: in.Name, Connector: in.Connector, Sort: strings.TrimPrefix(in.Sort, "-"), Desc: strings.HasPrefix(in.Sort, "-")}
		cs, err := s.store.ListConnections(ctx, q, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		items := make([]Connection, len(cs))
		for i := range cs {
			items[i] = masked(&cs[i])
		}
		return &connectionsOut{Body: list(items, in.PageIn)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-connection", Method: http.MethodGet, Path: "/api/v1/connections/{id}", Tags: []string{"connections"},
		Summary: "Get a connection, secrets masked",
	}, func(ctx context.Context, in *idPath) (*connectionOut, error) {
		c, err := s.store.Connection(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &connectionOut{Body: masked(c)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-connection", Method: http.MethodPut, Path: "/api/v1/connections/{id}", Tags: []string{"connections"},
		Summary: "Replace a connection; secret fields omitted or masked keep their stored value",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Body ConnectionIn
	}) (*connectionOut, error) {
		if err := checkConnector(in.Body.Connector); err != nil {
			return nil, err
		}
		old, err := s.store.Connection(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		cfg := map[string]any{}
		for k, v := range in.Body.Config {
			cfg[k] = v
		}
		if old.Connector == in.Body.Connector {
			for _, k := range secrets(old.Connector) {
				if v, ok := cfg[k]; (!ok || v == Masked) && old.Config[k] != nil {
					cfg[k] = old.Config[k]
				}
			}
		}
		c := &store.Connection{ID: in.ID, Name: in.Body.Name, Connector: in.Body.Connector, Config: cfg, CreatedAt: old.CreatedAt}
		if err := checkConfig(c); err != nil {
			return nil, err
		}
		if err := s.store.UpdateConnection(ctx, c); err != nil {
			return nil, s.fail(ctx, err)
		}
		return &connectionOut{Body: masked(c)}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "delete-connection", Method: http.MethodDelete, Path: "/api/v1/connections/{id}", Tags: []string{"connections"},
		Summary: "Delete a connection", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		if err := s.store.DeleteConnection(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		return nil, nil
	})
}

type connectionListIn struct {
	PageIn
	Name      string `query:"name" doc:"Keep connections whose name contains this, ignoring case"`
	Connector string `query:"connector" doc:"Keep connections of this connector"`
	Sort      string `query:"sort" enum:"name,-name,created_at,-created_at,updated_at,-updated_at" default:"name" doc:"Sort key; a leading - sorts descending"`
}
