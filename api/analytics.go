package api

import "github.com/danielgtaylor/huma/v2"

// analytics registers the routes of dashboard, monitoring and analytics figures.
func (s *server) analytics(api huma.API) {}
