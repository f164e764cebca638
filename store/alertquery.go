package store

import (
	"context"
	"fmt"
	"strings"
)

// AlertListQuery filters and sorts the lists of alert channels and rules.
type AlertListQuery struct {
	// NameContains keeps those whose name contains it, ignoring case.
	NameContains string
	// Type keeps channels of this type (webhook, email); rules ignore it.
	Type string
	// Enabled keeps enabled (true) or disabled (false) rules when set;
	// channels ignore it.
	Enabled *bool
	// Sort is "name" (the default), "created_at" or "updated_at".
	Sort string
	// Desc sorts in descending order.
	Desc bool
}

// AlertListSorts are the sort keys [AlertListQuery] accepts.
var AlertListSorts = []string{"name", "created_at", "updated_at"}

// AlertLister lists alert channels and rules with filters.
type AlertLister interface {
	ListAlertChannels(ctx context.Context, q AlertListQuery, page Page) ([]AlertChannel, error)
	ListAlertRules(ctx context.Context, q AlertListQuery, page Page) ([]AlertRule, error)
}

// listQuery builds the WHERE and ORDER BY of a filtered list of table.
func listQuery(cols, table string, where []string, args []any, nameContains, sort string, desc bool, page Page) (string, []any, error) {
	if nameContains != "" {
		where = append(where, `lower(name) LIKE ? ESCAPE '\'`)
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(nameContains))
		args = append(args, "%"+esc+"%")
	}
	order := "name"
	switch sort {
	case "", "name":
	case "created_at", "updated_at":
		order = sort
	default:
		return "", nil, fmt.Errorf("sort %q: must be one of %s", sort, strings.Join(AlertListSorts, ", "))
	}
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	query := `SELECT ` + cols + ` FROM ` + table
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// The id breaks ties, so pages do not overlap.
	query += ` ORDER BY ` + order + dir + `, id LIMIT ? OFFSET ?`
	page = page.norm()
	return query, append(args, page.Limit, page.Offset), nil
}

func (s *sqlStore) ListAlertChannels(ctx context.Context, q AlertListQuery, page Page) ([]AlertChannel, error) {
	var where []string
	var args []any
	if q.Type != "" {
		where, args = append(where, `type = ?`), append(args, q.Type)
	}
	query, args, err := listQuery(alertChannelCols, "alert_channels", where, args, q.NameContains, q.Sort, q.Desc, page)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AlertChannel{}
	for rows.Next() {
		c, err := scanAlertChannel(rows)
		if err == nil {
			err = s.openConfig("alert channel "+c.Name, c.Config)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (s *sqlStore) ListAlertRules(ctx context.Context, q AlertListQuery, page Page) ([]AlertRule, error) {
	var where []string
	var args []any
	if q.Enabled != nil {
		where, args = append(where, `enabled = ?`), append(args, *q.Enabled)
	}
	query, args, err := listQuery(alertRuleCols, "alert_rules", where, args, q.NameContains, q.Sort, q.Desc, page)
	if err != nil {
		return nil, err
	}
	return s.alertRules(ctx, query, args...)
}
