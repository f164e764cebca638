package api

import "github.com/danielgtaylor/huma/v2"

// schedules registers the routes of schedule previews and the scheduler's view of pipelines.
func (s *server) schedules(api huma.API) {}
