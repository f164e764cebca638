package api

import "github.com/danielgtaylor/huma/v2"

// versions registers the routes of pipeline versions: diff, restore, import and export.
func (s *server) versions(api huma.API) {}
