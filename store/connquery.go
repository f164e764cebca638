package store

import (
	"context"
	"fmt"
	"strings"
)

// ConnectionQuery filters and sorts [Store.ListConnections].
type ConnectionQuery struct {
	// NameContains keeps connections whose name contains it, ignoring case.
	NameContains string
	// Connector keeps connections of this connector.
	Connector string
	// Sort is "name" (the default), "created_at" or "updated_at".
	Sort string
	// Desc sorts in descending order.
	Desc bool
}

// ConnectionSorts are the sort keys [ConnectionQuery] accepts.
var ConnectionSorts = []string{"name", "created_at", "updated_at"}

// ConnectionLister lists stored connections with filters.
type ConnectionLister interface {
	// ListConnections lists connections matching q.
	ListConnections(ctx context.Context, q ConnectionQuery, page Page) ([]Connection, error)
}

func (s *sqlStore) ListConnections(ctx context.Context, q ConnectionQuery, page Page) ([]Connection, error) {
	page = page.norm()
	var where []string
	var args []any
	if q.NameContains != "" {
		where = append(where, `lower(name) LIKE ? ESCAPE '\'`)
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(q.NameContains))
		args = append(args, "%"+esc+"%")
	}
	if q.Connector != "" {
		where = append(where, `connector = ?`)
		args = append(args, q.Connector)
	}
	order := "name"
	switch q.Sort {
	case "", "name":
	case "created_at", "updated_at":
		order = q.Sort
	default:
		return nil, fmt.Errorf("sort %q: must be one of %s", q.Sort, strings.Join(ConnectionSorts, ", "))
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	query := `SELECT ` + connCols + ` FROM connections`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// The id breaks ties, so pages do not overlap.
	query += ` ORDER BY ` + order + dir + `, id LIMIT ? OFFSET ?`
	args = append(args, page.Limit, page.Offset)
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Connection{}
	for rows.Next() {
		c, err := scanConn(rows)
		if err == nil {
			err = s.openConfig("connection "+c.Name, c.Config)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}
