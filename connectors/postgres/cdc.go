package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqlsource"
)

// CDCConfig turns the postgres source into change data capture through
// logical replication with the pgoutput plugin.
//
// How a run goes: the publication (the selected tables) and the replication
// slot are created when absent. Streams without a checkpoint are read whole
// first (the snapshot). Then the run writes a logical decoding message, a
// marker, into the WAL and streams the slot's changes up to that marker,
// so it reads everything committed before it started and then ends. Every
// stream's checkpoint is the marker's LSN. The slot's confirmed position is
// moved only at the start of the next run, to the checkpoints the
// destination committed: a run that fails reads the same changes again.
//
// The snapshot is not the slot's exported snapshot: it is taken after the
// slot exists, and the changes streamed after it start at the slot's
// position, so some of them are older than the snapshot. Applied in order,
// upserted and deleted by primary key, they end in the state of the marker,
// which is newer than the snapshot; nothing is missed. This also holds for a
// table added to an existing slot, which has no snapshot to export.
type CDCConfig struct {
	Slot        string `json:"slot,omitempty" jsonschema:"description=Replication slot; created when absent. Default: tributary_ and a hash of the database and the selected tables."`
	Publication string `json:"publication,omitempty" jsonschema:"description=Publication of the selected tables; created when absent and kept to the selection. Default: the slot's name."`
	DropSlot    bool   `json:"drop_slot,omitempty" jsonschema:"description=Drop the slot and the publication and read nothing, which frees the WAL the slot holds; the next run without it takes a new snapshot."`
}

// slotName is what PostgreSQL accepts as a slot name.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func (c *CDCConfig) validate() error {
	if c.Slot != "" && !slotName.MatchString(c.Slot) {
		return fmt.Errorf("slot: %q must be 1 to 63 lower-case letters, digits and underscores", c.Slot)
	}
	if len(c.Publication) > 63 {
		return fmt.Errorf("publication: %q is longer than 63 bytes", c.Publication)
	}
	return nil
}

// cdcState is a stream's checkpoint: changes committed before LSN are
// loaded.
type cdcState struct {
	LSN  string `json:"lsn,omitempty"`
	Slot string `json:"slot,omitempty"`
}

// markerPrefix is the prefix of the logical decoding messages that end a
// run's read.
const markerPrefix = "tributary"

// cdcStream is one selected table during a run.
type cdcStream struct {
	st     connector.Stream
	table  sqlsource.Table
	from   pglogrepl.LSN // changes committed before it are loaded already
	schema *connector.Schema
	types  []connector.Type
	batch  *connector.Batch
	rows   int // rows emitted, for req.Limit
}

type cdcRead struct {
	s       *Source
	req     connector.ReadRequest
	emit    connector.Emitter
	conn    *pgx.Conn
	slot    string
	pub     string
	streams []*cdcStream
	byTable map[string]*cdcStream // "schema.table"

	rel      map[uint32]*relation
	typnames map[uint32]string
	pending  int // rows read since the last checkpoint
}

// relation is a table as the replication stream last described it.
type relation struct {
	msg    *pglogrepl.RelationMessage
	stream *cdcStream
	schema *connector.Schema
	types  []connector.Type
}

func (s *Source) connectCDC(ctx context.Context) (*pgx.Conn, error) {
	cc := s.conn.Copy()
	cc.RuntimeParams["timezone"] = "UTC"
	cc.RuntimeParams["datestyle"] = "ISO, YMD"
	cc.RuntimeParams["intervalstyle"] = "iso_8601"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// Check connects; with cdc it also checks what logical replication needs
// from the server and the user.
func (s *Source) Check(ctx context.Context) error {
	if err := s.Source.Check(ctx); err != nil {
		return err
	}
	if s.cdc == nil {
		return nil
	}
	conn, err := s.connectCDC(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var level string
	var replication bool
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&level, &replication); err != nil {
		return fmt.Errorf("cdc: %w", err)
	}
	if level != "logical" {
		return fmt.Errorf("cdc: the server's wal_level is %s; logical replication needs wal_level = logical (set it and restart the server)", level)
	}
	if !replication {
		return errors.New("cdc: the user lacks the REPLICATION attribute (ALTER ROLE … REPLICATION)")
	}
	return nil
}

// Read reads through change data capture when the source is configured
// for it, else through queries.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	if s.cdc == nil {
		return s.Source.Read(ctx, req, emit)
	}
	conn, err := s.connectCDC(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r := &cdcRead{s: s, req: req, emit: emit, conn: conn, byTable: map[string]*cdcStream{},
		rel: map[uint32]*relation{}, typnames: map[uint32]string{}}
	if err := r.plan(ctx); err != nil {
		return err
	}
	if req.Limit > 0 {
		// A preview reads the tables and leaves slot and publication alone.
		return r.snapshot(ctx, r.streams)
	}
	if s.cdc.DropSlot {
		return r.drop(ctx)
	}
	return r.run(ctx)
}

// plan resolves the streams to tables and checks they can be replicated.
func (r *cdcRead) plan(ctx context.Context) error {
	tables, err := r.s.dialect.Tables(ctx, r.s.db, nil)
	if err != nil {
		return err
	}
	var names []string
	for _, st := range r.req.Streams {
		var cfg sqlsource.StreamConfig
		if err := decodeStreamConfig(st.Config, &cfg); err != nil {
			return fmt.Errorf("stream %s: %w", st.Name, err)
		}
		if cfg.Query != "" {
			return fmt.Errorf("stream %s: cdc reads tables, not queries", st.Name)
		}
		if st.SyncMode != connector.IncrementalDedup {
			return fmt.Errorf("stream %s: cdc needs sync_mode %s (got %q): changes are applied by primary key", st.Name, connector.IncrementalDedup, st.SyncMode)
		}
		i := slices.IndexFunc(tables, func(t sqlsource.Table) bool {
			if cfg.Table != "" {
				return t.Name == cfg.Table && (cfg.Schema == "" || t.Schema == cfg.Schema)
			}
			return t.Stream == st.Name || t.Name == st.Name
		})
		if i < 0 {
			return fmt.Errorf("stream %s: table not found in schemas %v", st.Name, r.s.dialect.schemas)
		}
		t := tables[i]
		if len(t.PrimaryKey) == 0 {
			return fmt.Errorf("stream %s: table %s.%s has no primary key; cdc needs one to apply updates and deletes (add a primary key)", st.Name, t.Schema, t.Name)
		}
		if len(st.PrimaryKey) == 0 {
			return fmt.Errorf("stream %s: cdc needs primary_key; the table's is %v", st.Name, t.PrimaryKey)
		}
		if !slices.Equal(st.PrimaryKey, t.PrimaryKey) {
			return fmt.Errorf("stream %s: primary_key %v differs from the table's %v; deletes carry only the table's key", st.Name, st.PrimaryKey, t.PrimaryKey)
		}
		cs := &cdcStream{st: st, table: t}
		var fields []connector.Field
		for _, c := range t.Columns {
			fields = append(fields, connector.Field{Name: c.Name, Type: c.Type, Nullable: true})
		}
		cs.schema, cs.types = cdcSchema(fields)
		r.streams = append(r.streams, cs)
		r.byTable[t.Schema+"."+t.Name] = cs
		names = append(names, t.Schema+"."+t.Name)
	}
	if len(r.streams) == 0 {
		return errors.New("cdc: no streams selected")
	}
	var db string
	if err := r.conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return fmt.Errorf("current database: %w", err)
	}
	slices.Sort(names)
	sum := sha256.Sum256([]byte(db + "\x00" + strings.Join(names, "\x00")))
	r.slot = r.s.cdc.Slot
	if r.slot == "" {
		r.slot = "tributary_" + hex.EncodeToString(sum[:6])
	}
	r.pub = r.s.cdc.Publication
	if r.pub == "" {
		r.pub = r.slot
	}
	return nil
}

func decodeStreamConfig(m map[string]any, cfg *sqlsource.StreamConfig) error {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return connector.DecodeConfig(b, cfg)
}

// cdcSchema appends the delete marker to the table's fields.
func cdcSchema(fields []connector.Field) (*connector.Schema, []connector.Type) {
	fields = append(fields, connector.Field{Name: connector.DeletedAtField, Type: connector.TypeTimestamp, Nullable: true})
	types := make([]connector.Type, len(fields))
	for i, f := range fields {
		types[i] = f.Type
	}
	return connector.NewSchema(fields...), types
}

// drop removes slot and publication and forgets the streams' positions.
func (r *cdcRead) drop(ctx context.Context) error {
	if _, err := r.conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", r.slot); err != nil {
		return fmt.Errorf("drop slot %s: %w", r.slot, err)
	}
	if _, err := r.conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{r.pub}.Sanitize()); err != nil {
		return fmt.Errorf("drop publication %s: %w", r.pub, err)
	}
	slog.InfoContext(ctx, "cdc: dropped replication slot and publication", "slot", r.slot, "publication", r.pub)
	for _, cs := range r.streams {
		if err := r.emit.Checkpoint(ctx, cs.st.Name, json.RawMessage(`{}`)); err != nil {
			return err
		}
	}
	return nil
}

func (r *cdcRead) run(ctx context.Context) error {
	if err := r.ensurePublication(ctx); err != nil {
		return err
	}
	created, confirmed, err := r.ensureSlot(ctx)
	if err != nil {
		return err
	}
	// Where each stream stands, and what the destination has committed of
	// all of them: the slot may forget what comes before.
	var commit pglogrepl.LSN
	var snap []*cdcStream
	for _, cs := range r.streams {
		var st cdcState
		if raw := r.req.State[cs.st.Name]; len(raw) > 0 {
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("stream %s: state: %w", cs.st.Name, err)
			}
		}
		if st.LSN != "" {
			lsn, err := pglogrepl.ParseLSN(st.LSN)
			if err != nil {
				return fmt.Errorf("stream %s: state: lsn: %w", cs.st.Name, err)
			}
			switch {
			case created || st.Slot != r.slot:
				slog.WarnContext(ctx, "cdc: the replication slot is new; taking a new snapshot", "stream", cs.st.Name, "slot", r.slot)
			case lsn < confirmed:
				slog.WarnContext(ctx, "cdc: the slot moved past the stream's checkpoint; taking a new snapshot",
					"stream", cs.st.Name, "slot", r.slot, "checkpoint", lsn, "confirmed", confirmed)
			default:
				cs.from = lsn
				if commit == 0 || lsn < commit {
					commit = lsn
				}
				continue
			}
		}
		snap = append(snap, cs)
	}
	if err := r.snapshot(ctx, snap); err != nil {
		return err
	}
	token := make([]byte, 12)
	_, _ = rand.Read(token)
	marker := hex.EncodeToString(token)
	var end pglogrepl.LSN
	if err := r.conn.QueryRow(ctx, "SELECT pg_logical_emit_message(false, $1, $2)::text", markerPrefix, marker).Scan(&end); err != nil {
		return fmt.Errorf("write the end marker: %w", err)
	}
	return r.stream(ctx, commit, end, marker)
}

func (r *cdcRead) ensurePublication(ctx context.Context) error {
	want := make([]string, 0, len(r.streams))
	for _, cs := range r.streams {
		want = append(want, cs.table.Schema+"."+cs.table.Name)
	}
	slices.Sort(want)
	var exists bool
	if err := r.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", r.pub).Scan(&exists); err != nil {
		return fmt.Errorf("publication %s: %w", r.pub, err)
	}
	list := make([]string, len(r.streams))
	for i, cs := range r.streams {
		list[i] = pgx.Identifier{cs.table.Schema, cs.table.Name}.Sanitize()
	}
	pub := pgx.Identifier{r.pub}.Sanitize()
	if !exists {
		if _, err := r.conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+strings.Join(list, ", ")); err != nil {
			return fmt.Errorf("create publication %s: %w", r.pub, err)
		}
		slog.InfoContext(ctx, "cdc: created publication", "publication", r.pub, "tables", want)
		return nil
	}
	var have []string
	if err := r.conn.QueryRow(ctx, "SELECT coalesce(array_agg(schemaname || '.' || tablename ORDER BY 1), '{}') FROM pg_publication_tables WHERE pubname = $1", r.pub).Scan(&have); err != nil {
		return fmt.Errorf("publication %s: tables: %w", r.pub, err)
	}
	slices.Sort(have)
	if slices.Equal(have, want) {
		return nil
	}
	if _, err := r.conn.Exec(ctx, "ALTER PUBLICATION "+pub+" SET TABLE "+strings.Join(list, ", ")); err != nil {
		return fmt.Errorf("alter publication %s: %w", r.pub, err)
	}
	slog.InfoContext(ctx, "cdc: set the tables of the publication", "publication", r.pub, "tables", want, "was", have)
	return nil
}

// ensureSlot creates the slot when absent and returns the position it has
// confirmed.
func (r *cdcRead) ensureSlot(ctx context.Context) (created bool, confirmed pglogrepl.LSN, err error) {
	var plugin, db, current string
	var lsn *string
	err = r.conn.QueryRow(ctx, `SELECT plugin, database, current_database(), confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, r.slot).
		Scan(&plugin, &db, &current, &lsn)
	if errors.Is(err, pgx.ErrNoRows) {
		var at string
		if err := r.conn.QueryRow(ctx, "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", r.slot).Scan(&at); err != nil {
			return false, 0, fmt.Errorf("create replication slot %s: %w", r.slot, err)
		}
		slog.InfoContext(ctx, "cdc: created replication slot", "slot", r.slot, "lsn", at)
		confirmed, err = pglogrepl.ParseLSN(at)
		return true, confirmed, err
	}
	if err != nil {
		return false, 0, fmt.Errorf("replication slot %s: %w", r.slot, err)
	}
	if plugin != "pgoutput" || db != current {
		return false, 0, fmt.Errorf("replication slot %s belongs to plugin %q in database %q, not pgoutput in %q: choose another slot name", r.slot, plugin, db, current)
	}
	if lsn != nil {
		confirmed, err = pglogrepl.ParseLSN(*lsn)
	}
	return false, confirmed, err
}

// snapshot reads the streams' tables whole, in one repeatable read
// transaction, as text so values are parsed as the replication stream's are.
func (r *cdcRead) snapshot(ctx context.Context, streams []*cdcStream) error {
	if len(streams) == 0 {
		return nil
	}
	tx, err := r.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("snapshot: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	for _, cs := range streams {
		cols := make([]string, len(cs.table.Columns))
		for i, c := range cs.table.Columns {
			cols[i] = pgx.Identifier{c.Name}.Sanitize()
		}
		q := "SELECT " + strings.Join(cols, ", ") + " FROM " + pgx.Identifier{cs.table.Schema, cs.table.Name}.Sanitize()
		if r.req.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", r.req.Limit)
		}
		rows, err := tx.Query(ctx, q, pgx.QueryResultFormats{pgx.TextFormatCode})
		if err != nil {
			return fmt.Errorf("stream %s: snapshot: %w", cs.st.Name, err)
		}
		n := 0
		for rows.Next() {
			n++
			raw := rows.RawValues()
			b, err := r.batchOf(ctx, cs, cs.schema)
			if err != nil {
				rows.Close()
				return err
			}
			row := b.NewRow()
			ok := true
			for i, v := range raw {
				if v == nil {
					continue
				}
				val, err := textValue(cs.types[i], v)
				if err != nil {
					ok = false
					if err := r.emit.Reject(ctx, connector.Reject{Stream: cs.st.Name, Origin: fmt.Sprintf("snapshot of %s.%s, row %d", cs.table.Schema, cs.table.Name, n),
						Raw: string(v), Reason: fmt.Sprintf("field %q: %v", cs.schema.Fields[i].Name, err)}); err != nil {
						rows.Close()
						return err
					}
					break
				}
				row[i] = val
			}
			if ok {
				b.Append(row)
				if err := r.flushFull(ctx, cs); err != nil {
					rows.Close()
					return err
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("stream %s: snapshot: %w", cs.st.Name, err)
		}
		if err := r.flush(ctx, cs); err != nil {
			return err
		}
		slog.InfoContext(ctx, "cdc: snapshot read", "stream", cs.st.Name, "rows", n)
	}
	return tx.Commit(ctx)
}

// textValue parses a column's text form as PostgreSQL writes it.
func textValue(t connector.Type, v []byte) (any, error) {
	if t == connector.TypeBytes {
		if s, ok := strings.CutPrefix(string(v), `\x`); ok {
			b, err := hex.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("not bytea hex: %w", err)
			}
			return b, nil
		}
		return append([]byte(nil), v...), nil
	}
	return connector.ParseValue(t, string(v))
}

// batchOf returns the stream's open batch for schema, emitting the open one
// first when it has another schema.
func (r *cdcRead) batchOf(ctx context.Context, cs *cdcStream, schema *connector.Schema) (*connector.Batch, error) {
	if cs.batch != nil && cs.batch.Schema != schema {
		if err := r.flush(ctx, cs); err != nil {
			return nil, err
		}
	}
	if cs.batch == nil {
		cs.batch = connector.NewBatch(cs.st.Name, schema, r.batchSize())
	}
	return cs.batch, nil
}

func (r *cdcRead) batchSize() int {
	if r.req.BatchSize > 0 {
		return r.req.BatchSize
	}
	return 10000
}

func (r *cdcRead) flushFull(ctx context.Context, cs *cdcStream) error {
	if cs.batch != nil && cs.batch.Len() >= r.batchSize() {
		return r.flush(ctx, cs)
	}
	return nil
}

func (r *cdcRead) flush(ctx context.Context, cs *cdcStream) error {
	b := cs.batch
	cs.batch = nil
	if b == nil || b.Len() == 0 {
		return nil
	}
	cs.rows += b.Len()
	return r.emit.Emit(ctx, b)
}

// checkpoint emits every open batch and then every stream's position.
func (r *cdcRead) checkpoint(ctx context.Context, at pglogrepl.LSN) error {
	for _, cs := range r.streams {
		if err := r.flush(ctx, cs); err != nil {
			return err
		}
	}
	for _, cs := range r.streams {
		lsn := max(at, cs.from)
		st, _ := json.Marshal(cdcState{LSN: lsn.String(), Slot: r.slot})
		if err := r.emit.Checkpoint(ctx, cs.st.Name, st); err != nil {
			return err
		}
	}
	r.pending = 0
	return nil
}

// stream reads the slot from its confirmed position until the marker,
// having first confirmed commit, what the destination holds.
func (r *cdcRead) stream(ctx context.Context, commit, end pglogrepl.LSN, marker string) error {
	pc, err := pgconn.ParseConfig(r.s.conn.ConnString())
	if err != nil {
		return fmt.Errorf("replication connection: %w", err)
	}
	pc.RuntimeParams["replication"] = "database"
	pc.RuntimeParams["timezone"] = "UTC"
	pc.RuntimeParams["datestyle"] = "ISO, YMD"
	pc.RuntimeParams["intervalstyle"] = "iso_8601"
	rc, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("replication connection: %w", err)
	}
	defer rc.Close(context.WithoutCancel(ctx))
	args := []string{"proto_version '1'", "publication_names '" + strings.ReplaceAll(r.pub, "'", "''") + "'", "messages 'true'"}
	if err := pglogrepl.StartReplication(ctx, rc, r.slot, commit, pglogrepl.StartReplicationOptions{PluginArgs: args}); err != nil {
		return fmt.Errorf("start replication from slot %s: %w", r.slot, err)
	}
	// Only what the destination committed is confirmed; with nothing
	// committed yet, 0 confirms nothing.
	// The server ends a connection that stays silent for wal_sender_timeout
	// (60 s by default), which a slow destination could otherwise cause
	// while Emit blocks: a status goes out every third of it meanwhile. mu
	// keeps it apart from the reads of the loop.
	every := 10 * time.Second
	var timeoutMS int64
	if err := r.conn.QueryRow(ctx, "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_sender_timeout'").Scan(&timeoutMS); err == nil && timeoutMS > 0 {
		every = max(100*time.Millisecond, time.Duration(timeoutMS)*time.Millisecond/3)
	}
	var mu sync.Mutex
	status := func() error {
		mu.Lock()
		defer mu.Unlock()
		return pglogrepl.SendStandbyStatusUpdate(ctx, rc, pglogrepl.StandbyStatusUpdate{WALWritePosition: commit})
	}
	if err := status(); err != nil {
		return fmt.Errorf("confirm %s to slot %s: %w", commit, r.slot, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := status(); err != nil {
					// The loop's next read reports the broken connection.
					slog.DebugContext(ctx, "cdc: status to the server", "slot", r.slot, "error", err)
				}
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	var (
		inTx       bool
		final      pglogrepl.LSN
		commitTime time.Time
		started    = time.Now()
	)
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		mu.Lock()
		msg, err := rc.ReceiveMessage(rctx)
		mu.Unlock()
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				slog.DebugContext(ctx, "cdc: waiting for the end marker", "slot", r.slot, "end", end, "waited", time.Since(started).Round(time.Second))
				continue
			}
			return fmt.Errorf("replication from slot %s: %w", r.slot, err)
		}
		var data []byte
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			data = m.Data
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("replication from slot %s: %w", r.slot, pgconn.ErrorResponseToPgError(m))
		default:
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err != nil {
				return fmt.Errorf("keepalive: %w", err)
			}
			if ka.ReplyRequested {
				if err := status(); err != nil {
					return fmt.Errorf("status to slot %s: %w", r.slot, err)
				}
			}
			continue
		case pglogrepl.XLogDataByteID:
		default:
			continue
		}
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("wal data: %w", err)
		}
		lm, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("decode change at %s: %w", xld.WALStart, err)
		}
		switch m := lm.(type) {
		case *pglogrepl.RelationMessage:
			if err := r.relation(ctx, m); err != nil {
				return err
			}
		case *pglogrepl.BeginMessage:
			inTx, final, commitTime = true, m.FinalLSN, m.CommitTime.UTC()
		case *pglogrepl.CommitMessage:
			inTx = false
			if r.pending >= r.batchSize() {
				if err := r.checkpoint(ctx, m.TransactionEndLSN); err != nil {
					return err
				}
			}
		case *pglogrepl.InsertMessage:
			if err := r.change(ctx, m.RelationID, final, xld.WALStart, m.Tuple, nil, nil); err != nil {
				return err
			}
		case *pglogrepl.UpdateMessage:
			if err := r.change(ctx, m.RelationID, final, xld.WALStart, m.NewTuple, m.OldTuple, nil); err != nil {
				return err
			}
		case *pglogrepl.DeleteMessage:
			if err := r.change(ctx, m.RelationID, final, xld.WALStart, nil, m.OldTuple, &commitTime); err != nil {
				return err
			}
		case *pglogrepl.TruncateMessage:
			for _, id := range m.RelationIDs {
				if rel := r.rel[id]; rel != nil && rel.stream != nil && final >= rel.stream.from {
					return fmt.Errorf("stream %s: table %s.%s was truncated at %s; cdc cannot apply a TRUNCATE: run once with cdc.drop_slot, then again for a new snapshot",
						rel.stream.st.Name, rel.msg.Namespace, rel.msg.RelationName, final)
				}
			}
		case *pglogrepl.LogicalDecodingMessage:
			if m.Prefix == markerPrefix && string(m.Content) == marker && !inTx {
				if err := r.checkpoint(ctx, m.LSN); err != nil {
					return err
				}
				slog.InfoContext(ctx, "cdc: read up to the end marker", "slot", r.slot, "lsn", m.LSN, "took", time.Since(started).Round(time.Millisecond))
				return nil
			}
		}
	}
}

func (r *cdcRead) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	cs := r.byTable[m.Namespace+"."+m.RelationName]
	rel := &relation{msg: m, stream: cs}
	r.rel[m.RelationID] = rel
	if cs == nil {
		return nil
	}
	fields := make([]connector.Field, len(m.Columns))
	for i, c := range m.Columns {
		name, ok := r.typnames[c.DataType]
		if !ok {
			if err := r.conn.QueryRow(ctx, "SELECT typname FROM pg_type WHERE oid = $1", c.DataType).Scan(&name); err != nil {
				return fmt.Errorf("stream %s: type of column %q (oid %d): %w", cs.st.Name, c.Name, c.DataType, err)
			}
			r.typnames[c.DataType] = name
		}
		fields[i] = connector.Field{Name: c.Name, Type: MapType(name), Nullable: true}
	}
	schema, types := cdcSchema(fields)
	if schema.Equal(cs.schema) {
		schema, types = cs.schema, cs.types
	} else {
		// Columns were added, dropped or retyped: the open batch keeps
		// the old schema.
		if err := r.flush(ctx, cs); err != nil {
			return err
		}
		cs.schema, cs.types = schema, types
	}
	rel.schema, rel.types = schema, types
	return nil
}

// fillUnchanged reads the values an update did not send (unchanged TOASTed
// columns) from the table by the row's key. They may be newer than the
// update; any later change of them is streamed after it, so the
// destination ends right. It reports false when the row no longer exists.
func (r *cdcRead) fillUnchanged(ctx context.Context, rel *relation, tuple *pglogrepl.TupleData, row []any, cols []int) (bool, error) {
	var sel, where []string
	var args []any
	for _, i := range cols {
		sel = append(sel, pgx.Identifier{rel.msg.Columns[i].Name}.Sanitize())
	}
	for i, c := range rel.msg.Columns {
		if c.Flags&1 == 0 {
			continue
		}
		if i >= len(tuple.Columns) || tuple.Columns[i].DataType != pglogrepl.TupleDataTypeText {
			return false, fmt.Errorf("stream %s: update without its key column %q", rel.stream.st.Name, c.Name)
		}
		args = append(args, string(tuple.Columns[i].Data))
		where = append(where, fmt.Sprintf("%s = $%d", pgx.Identifier{c.Name}.Sanitize(), len(args)))
	}
	if len(where) == 0 {
		return false, fmt.Errorf("stream %s: table %s.%s sends no key columns", rel.stream.st.Name, rel.msg.Namespace, rel.msg.RelationName)
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + pgx.Identifier{rel.msg.Namespace, rel.msg.RelationName}.Sanitize() + " WHERE " + strings.Join(where, " AND ")
	// The simple protocol sends the key's text as literals the server
	// types by the column, and answers in text, as the stream does.
	rows, err := r.conn.Query(ctx, q, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return false, fmt.Errorf("stream %s: read unchanged columns: %w", rel.stream.st.Name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	for j, v := range rows.RawValues() {
		i := cols[j]
		if v == nil {
			row[i] = nil
			continue
		}
		val, err := textValue(rel.types[i], v)
		if err != nil {
			return false, fmt.Errorf("stream %s: column %q: %w", rel.stream.st.Name, rel.msg.Columns[i].Name, err)
		}
		row[i] = val
	}
	rows.Close()
	return true, rows.Err()
}

// change adds one insert, update or delete to its stream's batch.
// deletedAt is set for a delete, whose tuple is the old key (or row).
func (r *cdcRead) change(ctx context.Context, relID uint32, final, at pglogrepl.LSN, tuple, old *pglogrepl.TupleData, deletedAt *time.Time) error {
	rel := r.rel[relID]
	if rel == nil {
		return fmt.Errorf("change at %s for relation %d before its description", at, relID)
	}
	cs := rel.stream
	if cs == nil || final < cs.from {
		return nil
	}
	cs.schema, cs.types = rel.schema, rel.types
	src := tuple
	if deletedAt != nil {
		src = old
	}
	if src == nil {
		return fmt.Errorf("stream %s: change at %s carries no row", cs.st.Name, at)
	}
	b, err := r.batchOf(ctx, cs, rel.schema)
	if err != nil {
		return err
	}
	row := b.NewRow()
	origin := fmt.Sprintf("%s.%s at %s", rel.msg.Namespace, rel.msg.RelationName, at)
	var unchanged []int
	for i, col := range src.Columns {
		if i >= len(rel.msg.Columns) {
			break
		}
		switch col.DataType {
		case pglogrepl.TupleDataTypeNull:
			continue
		case pglogrepl.TupleDataTypeToast:
			// An unchanged TOASTed value is not sent; a full old row
			// (REPLICA IDENTITY FULL) holds it, else the table does.
			if old != nil && i < len(old.Columns) && old.Columns[i].DataType == pglogrepl.TupleDataTypeText {
				col = old.Columns[i]
			} else {
				unchanged = append(unchanged, i)
				continue
			}
		}
		v, err := textValue(rel.types[i], col.Data)
		if err != nil {
			return r.emit.Reject(ctx, connector.Reject{Stream: cs.st.Name, Origin: origin, Raw: string(col.Data),
				Reason: fmt.Sprintf("field %q: %v", rel.msg.Columns[i].Name, err)})
		}
		row[i] = v
	}
	if deletedAt != nil {
		row[len(row)-1] = *deletedAt
	}
	if len(unchanged) > 0 {
		slog.DebugContext(ctx, "cdc: reading unchanged TOASTed columns from the table", "stream", cs.st.Name, "lsn", at, "columns", len(unchanged))
		found, err := r.fillUnchanged(ctx, rel, src, row, unchanged)
		if err != nil {
			return err
		}
		if !found {
			// The row is gone since: its delete follows, in this run or
			// the next, and supersedes this update.
			return nil
		}
	}
	b.Append(row)
	r.pending++
	return r.flushFull(ctx, cs)
}
