package api

import "github.com/danielgtaylor/huma/v2"

// quarantine registers the routes of quarantined rows: browse, download, replay.
func (s *server) quarantine(api huma.API) {}
