package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/connector"
)

type connectorsOut struct {
	Body struct {
		Items []connector.Info `json:"items"`
	}
}

func (s *server) connectors(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-connectors", Method: http.MethodGet, Path: "/api/v1/connectors", Tags: []string{"connectors"},
		Summary: "List connectors with their config JSON Schemas",
	}, func(context.Context, *struct{}) (*connectorsOut, error) {
		out := &connectorsOut{}
		out.Body.Items = connector.List()
		return out, nil
	})
}
