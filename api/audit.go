package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-data/tributary/store"
)

type auditIn struct {
	PageIn
	Actor  string    `query:"actor" maxLength:"400" doc:"Entries of this actor only"`
	Action string    `query:"action" maxLength:"200" doc:"Entries of this action only, e.g. login_failed or \"DELETE delete-pipeline\""`
	Target string    `query:"target" maxLength:"1000" doc:"Entries whose target starts with this"`
	Since  time.Time `query:"since" doc:"Entries at or after this time"`
	Until  time.Time `query:"until" doc:"Entries before this time"`
}

type auditOut struct{ Body List[store.AuditEntry] }

// auditLog registers the read-only audit log API; entries are appended
// by the server only.
func (s *server) auditLog(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-audit-entries", Method: http.MethodGet, Path: "/api/v1/audit", Tags: []string{"audit"},
		Summary: "List audit entries, newest first",
		Description: "Logins, failed logins, user, role and token changes, and every successful write with its caller, address and path. " +
			"Secrets in before/after states are masked. The log cannot be changed through the API.",
	}, func(ctx context.Context, in *auditIn) (*auditOut, error) {
		es, err := s.store.AuditEntries(ctx, store.AuditFilter{Actor: in.Actor, Action: in.Action, Target: in.Target, Since: in.Since, Until: in.Until}, in.page())
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &auditOut{Body: list(es, in.PageIn)}, nil
	})
}
