package api

import "github.com/danielgtaylor/huma/v2"

// alerts registers the routes of notification channels and alert rules.
func (s *server) alerts(api huma.API) {}
