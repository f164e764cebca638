package sqlsource

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/tributary-data/tributary/connector"
)

// StreamConfig is the per-stream setting of a SQL source: a table, or a
// custom query read as a stream. With neither, the stream's name is the
// table's.
type StreamConfig struct {
	Schema string `json:"schema,omitempty" jsonschema:"description=Schema (MySQL: database) of the table; default: the connection's"`
	Table  string `json:"table,omitempty" jsonschema:"description=Table to read; default: the stream name"`
	Query  string `json:"query,omitempty" jsonschema:"description=Custom SELECT read as the stream instead of a table; incremental reads wrap it in a subquery"`
}

// Options configures a [Source].
type Options struct {
	// Schemas limits discovery to these schemas; none means the
	// connection's default schema.
	Schemas []string
	// Logger receives progress and warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Source reads tables and queries of one database. It implements
// [connector.Source].
type Source struct {
	db      *sql.DB
	dialect Dialect
	opts    Options
	log     *slog.Logger
}

var _ connector.Source = (*Source)(nil)

// New returns a source reading db through dialect. The source owns db and
// closes it in [Source.Close].
func New(db *sql.DB, d Dialect, opts Options) *Source {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Source{db: db, dialect: d, opts: opts, log: log}
}

// DB returns the database the source reads.
func (s *Source) DB() *sql.DB { return s.db }

// Check pings the database.
func (s *Source) Check(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Discover offers every table of the configured schemas as a stream.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	tables, err := s.dialect.Tables(ctx, s.db, s.opts.Schemas)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	cat := &connector.Catalog{Streams: make([]connector.StreamInfo, 0, len(tables))}
	for _, t := range tables {
		modes := []connector.SyncMode{connector.FullRefreshOverwrite, connector.FullRefreshAppend}
		cands := t.CursorCandidates()
		if len(cands) > 0 {
			modes = append(modes, connector.IncrementalAppend)
			if len(t.PrimaryKey) > 0 {
				modes = append(modes, connector.IncrementalDedup)
			}
		}
		cat.Streams = append(cat.Streams, connector.StreamInfo{
			Name:             t.Stream,
			Schema:           t.StreamSchema(),
			PrimaryKey:       t.PrimaryKey,
			CursorCandidates: cands,
			SyncModes:        modes,
		})
	}
	return cat, nil
}

// Close closes the database.
func (s *Source) Close() error { return s.db.Close() }
