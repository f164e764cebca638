package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the embedded store's driver
)

// Options say where the store lives.
type Options struct {
	// DataDir holds the SQLite file (tributary.db) when DatabaseURL is
	// empty.
	DataDir string
	// DatabaseURL selects PostgreSQL; its search_path parameter, if any,
	// picks the schema.
	DatabaseURL string
	// Secrets encrypts secret config fields at rest; nil keeps them
	// plain.
	Secrets Sealer
}

// Open opens the store the options name and migrates it.
func Open(ctx context.Context, opts Options) (Store, error) {
	if opts.DatabaseURL != "" {
		pg, err := OpenPostgres(ctx, opts.DatabaseURL)
		if err != nil {
			return nil, err
		}
		pg.sealer = opts.Secrets
		return pg, nil
	}
	lite, err := OpenSQLite(ctx, filepath.Join(opts.DataDir, "tributary.db"))
	if err != nil {
		return nil, err
	}
	lite.sealer = opts.Secrets
	return lite, nil
}

// SQLite is the embedded store: one file, written in WAL mode.
type SQLite struct {
	sqlStore
	path string
}

// SQLiteDSN is the data source name for a connection to the file at path
// with the pragmas every connection needs: WAL so readers do not block the
// writer, a busy timeout so writers wait instead of failing with "database
// is locked", and immediate transactions so a reader never has to upgrade
// to a writer mid-transaction (an upgrade that busy_timeout cannot retry).
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// OpenSQLite opens (creating it if needed) the SQLite store at path.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Opening a connection reads the schema and runs the pragmas, which
	// costs more than most queries: keep connections for concurrent
	// requests instead of database/sql's two idle ones.
	db.SetMaxIdleConns(sqliteIdleConns)
	s := &SQLite{sqlStore: sqlStore{db: db, writes: &sync.Mutex{}}, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// sqliteIdleConns is how many connections the embedded store keeps open
// between queries.
const sqliteIdleConns = 32

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Postgres is the store on a PostgreSQL database, shared by every server
// and worker process.
type Postgres struct {
	sqlStore
	pool *pgxpool.Pool
}

// OpenPostgres connects to the database at url and migrates it.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to the store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to the store: %w", err)
	}
	s := &Postgres{sqlStore: sqlStore{db: stdlib.OpenDBFromPool(pool), postgres: true}, pool: pool}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	return s, nil
}

// Pool is the connection pool, for River to share.
func (s *Postgres) Pool() *pgxpool.Pool { return s.pool }

// Close closes the database handle and the pool under it.
func (s *Postgres) Close() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}
