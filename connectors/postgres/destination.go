package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest"
)

// DestinationConfig configures the postgres destination.
type DestinationConfig struct {
	URL    string `json:"url" secret:"true" jsonschema:"required,description=Connection URL such as postgres://user:pass@host:5432/db?sslmode=disable"`
	Schema string `json:"schema,omitempty" jsonschema:"description=Schema the tables are written into; created if missing. Default: public."`
	// How rows a change data capture source marks deleted
	// (connector.DeletedAtField) are applied under incremental_dedup.
	sqldest.DeletesSetting
}

// Names of the bookkeeping tables in the destination schema.
const (
	stateTable      = "_tributary_state"
	quarantineTable = "_tributary_quarantine"
)

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("postgres",
		"PostgreSQL tables loaded with binary COPY, with state committed in the same transaction"), NewDestination)
}

// Destination loads streams into tables of one schema. Each writer has a
// connection of its own (a load is one long transaction); short statements
// share one more, guarded by mu.
type Destination struct {
	schema      string
	config      *pgx.ConnConfig
	hardDeletes bool
	conn        *pgx.Conn // lazily connected, for state and preparation

	mu    sync.Mutex
	ready bool // the schema and the bookkeeping tables exist
}

var (
	_ connector.Destination = (*Destination)(nil)
	_ connector.StateStore  = (*Destination)(nil)
	_ connector.Writer      = (*writer)(nil)
)

// NewDestination builds a postgres destination from its JSON config.
func NewDestination(ctx context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return Open(ctx, cfg)
}

// Open builds a destination; it connects lazily, so an unreachable server
// is reported by Check or the first load.
func Open(_ context.Context, cfg DestinationConfig) (*Destination, error) {
	if cfg.URL == "" {
		return nil, errors.New("url is required")
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	hard, err := cfg.Hard()
	if err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	return &Destination{schema: cfg.Schema, config: cc, hardDeletes: hard}, nil
}

func (d *Destination) connect(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, d.config.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// shared returns the destination's own connection; mu must be held.
func (d *Destination) shared(ctx context.Context) (*pgx.Conn, error) {
	if d.conn != nil && !d.conn.IsClosed() {
		return d.conn, nil
	}
	c, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	d.conn = c
	return c, nil
}

// Check connects and verifies the user may create the schema and its
// tables, by doing so in a transaction that is rolled back.
func (d *Destination) Check(ctx context.Context) error {
	c, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a check never keeps anything
	probe := d.ident("_tributary_check")
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{d.schema}.Sanitize(),
		"CREATE TABLE " + probe + " (id bigint)",
		"INSERT INTO " + probe + " VALUES (1)",
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("permissions in schema %s: %w", d.schema, err)
		}
	}
	return nil
}

// Close closes the shared connection; writers close their own.
func (d *Destination) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		err := d.conn.Close(context.Background())
		d.conn = nil
		return err
	}
	return nil
}

func (d *Destination) ident(table string) string {
	return pgx.Identifier{d.schema, table}.Sanitize()
}

// prepare creates the schema and bookkeeping tables once per destination.
func (d *Destination) prepare(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ready {
		return nil
	}
	c, err := d.shared(ctx)
	if err != nil {
		return err
	}
	stmts := []string{
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{d.schema}.Sanitize(),
		"CREATE TABLE IF NOT EXISTS " + d.ident(stateTable) + ` (
			pipeline text NOT NULL,
			stream text NOT NULL,
			state text,
			updated_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (pipeline, stream))`,
		"CREATE TABLE IF NOT EXISTS " + d.ident(quarantineTable) + ` (
			run_id text,
			pipeline text,
			stream text,
			origin text,
			raw text,
			reason text,
			step text,
			at timestamptz)`,
	}
	for _, q := range stmts {
		// Two destinations preparing the same schema at once race in the
		// catalog; the loser finds the object on a second try.
		var err error
		for range 3 {
			if _, err = c.Exec(ctx, q); err == nil || !isCatalogRace(err) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("prepare schema %s: %w", d.schema, err)
		}
	}
	d.ready = true
	return nil
}

func isCatalogRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07" || pe.Code == "42710")
}

// State returns the committed state of every stream of pipeline.
func (d *Destination) State(ctx context.Context, pipeline string) (map[string]json.RawMessage, error) {
	if err := d.prepare(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.shared(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, "SELECT stream, state FROM "+d.ident(stateTable)+" WHERE pipeline = $1 AND state IS NOT NULL", pipeline)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var stream, state string
		if err := rows.Scan(&stream, &state); err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		out[stream] = json.RawMessage(state)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return out, nil
}

// ResetState forgets the state of the given streams, or of all the
// pipeline's streams when none is given.
func (d *Destination) ResetState(ctx context.Context, pipeline string, streams ...string) error {
	if err := d.prepare(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.shared(ctx)
	if err != nil {
		return err
	}
	if len(streams) == 0 {
		_, err = c.Exec(ctx, "DELETE FROM "+d.ident(stateTable)+" WHERE pipeline = $1", pipeline)
	} else {
		_, err = c.Exec(ctx, "DELETE FROM "+d.ident(stateTable)+" WHERE pipeline = $1 AND stream = ANY($2)", pipeline, streams)
	}
	if err != nil {
		return fmt.Errorf("reset state: %w", err)
	}
	return nil
}

// shortHash names the helper tables of a stream: stream names can be as
// long as an identifier, so a suffix would be cut off.
func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

// Open starts loading one stream.
func (d *Destination) Open(ctx context.Context, load connector.Load) (connector.Writer, error) {
	if err := d.prepare(ctx); err != nil {
		return nil, err
	}
	if load.Schema == nil {
		load.Schema = &connector.Schema{}
	}
	if load.SchemaPolicy == "" {
		load.SchemaPolicy = connector.SchemaEvolve
	}
	if load.SyncMode == "" {
		load.SyncMode = connector.FullRefreshAppend
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{d: d, load: load, conn: conn, final: truncIdent(load.Stream)}
	if len(load.Schema.Fields) == 0 {
		// Opened for rejects only (every row so far refused): the table is
		// made from the first batch, if one comes.
		w.pending = true
		return w, nil
	}
	if err := w.open(ctx); err != nil {
		conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the open error matters more
		return nil, fmt.Errorf("open %s: %w", load.Stream, err)
	}
	return w, nil
}
