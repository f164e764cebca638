package api

import "github.com/danielgtaylor/huma/v2"

// attempts registers the routes of retries of runs.
func (s *server) attempts(api huma.API) {}
