package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/msgrows"
)

// Conn holds what both the source and the destination need to connect.
type Conn struct {
	URL      string `json:"url,omitempty" jsonschema:"description=NATS server URL (default nats://127.0.0.1:4222)"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty" secret:"true"`
	Token    string `json:"token,omitempty" secret:"true" jsonschema:"description=Authentication token"`
}

func (c Conn) connect() (*natsgo.Conn, jetstream.JetStream, error) {
	url := c.URL
	if url == "" {
		url = natsgo.DefaultURL
	}
	opts := []natsgo.Option{natsgo.Name("tributary")}
	if c.User != "" {
		opts = append(opts, natsgo.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, natsgo.Token(c.Token))
	}
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("config.url: connect to %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// SourceConfig configures the nats source.
type SourceConfig struct {
	Conn
	Format     string `json:"format,omitempty" jsonschema:"enum=json,enum=string,enum=bytes,description=How message payloads are read: json (an object whose fields become columns; the default), string or bytes (one column named value)"`
	Durable    string `json:"durable,omitempty" jsonschema:"description=Name of the durable consumer (default tributary_ followed by the stream's name); {stream} is replaced by the stream's name"`
	AckWait    string `json:"ack_wait,omitempty" jsonschema:"description=How long JetStream waits for the acknowledgement, which comes after the destination's commit, before it delivers a message again (default 5m, longer than commit_interval)"`
	Continuous bool   `json:"continuous,omitempty" jsonschema:"description=Read without end: micro-batches committed every commit_rows rows or commit_interval until the run is stopped. Without it a run reads up to the last sequence found at its start"`
}

// StreamConfig holds a stream's own settings.
type StreamConfig struct {
	Stream  string `json:"stream,omitempty" jsonschema:"description=JetStream stream to read (default: the stream's name)"`
	Subject string `json:"subject,omitempty" jsonschema:"description=Read only messages whose subject matches this filter"`
	Format  string `json:"format,omitempty" jsonschema:"enum=json,enum=string,enum=bytes,description=Overrides the source's format for this stream"`
}

// Metadata columns every row of the source starts with.
const (
	SubjectField   = "_nats_subject"
	SequenceField  = "_nats_sequence"
	TimestampField = "_nats_timestamp"
	HeadersField   = "_nats_headers"
)

var metaFields = []connector.Field{
	{Name: SubjectField, Type: connector.TypeString},
	{Name: SequenceField, Type: connector.TypeInt64},
	{Name: TimestampField, Type: connector.TypeTimestamp},
	{Name: HeadersField, Type: connector.TypeJSON, Nullable: true},
}

func init() {
	connector.RegisterSource(connector.NewSpec[SourceConfig, StreamConfig]("nats",
		"NATS JetStream streams through a durable consumer acknowledged after the destination committed; the stream sequence saved with the destination's commit"), NewSource)
}

// State is a stream's checkpoint: the stream sequence of the last message
// read.
type State struct {
	Seq uint64 `json:"seq"`
}

// Source reads JetStream streams.
type Source struct {
	cfg     SourceConfig
	ackWait time.Duration
	nc      *natsgo.Conn
	js      jetstream.JetStream

	mu sync.Mutex
	// pending holds, per stream, the last message of each checkpoint not
	// yet committed: acknowledging it acknowledges every one before.
	pending map[string]map[uint64]jetstream.Msg
	lag     map[string]int64
}

// NewSource builds a nats source from its JSON config.
func NewSource(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg SourceConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if _, err := msgrows.CheckFormat(cfg.Format); err != nil {
		return nil, fmt.Errorf("config.format: %w", err)
	}
	ackWait := 5 * time.Minute
	if cfg.AckWait != "" {
		d, err := time.ParseDuration(cfg.AckWait)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("config.ack_wait: %q is not a positive duration", cfg.AckWait)
		}
		ackWait = d
	}
	nc, js, err := cfg.connect()
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, ackWait: ackWait, nc: nc, js: js, pending: map[string]map[uint64]jetstream.Msg{}, lag: map[string]int64{}}, nil
}

// Check asks JetStream for the account's limits.
func (s *Source) Check(ctx context.Context) error {
	if _, err := s.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account: %w", err)
	}
	return nil
}

// Close closes the connection.
func (s *Source) Close() error {
	s.nc.Close()
	return nil
}

// Discover offers one stream per JetStream stream.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	cat := &connector.Catalog{}
	names := s.js.StreamNames(ctx)
	for n := range names.Name() {
		cat.Streams = append(cat.Streams, connector.StreamInfo{
			Name:      n,
			Schema:    connector.NewSchema(metaFields...),
			SyncModes: []connector.SyncMode{connector.IncrementalAppend, connector.IncrementalDedup},
		})
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return cat, nil
}

type stream struct {
	name     string
	jsName   string
	cons     jetstream.Consumer
	last     uint64 // stream sequence of the last message read
	end      uint64 // last sequence at the start, for a bounded read
	done     bool
	builder  *msgrows.Builder
	lastMsg  jetstream.Msg
	consumer string
}

func (st *stream) state() json.RawMessage {
	b, _ := json.Marshal(State{Seq: st.last})
	return b
}

// open positions the stream's durable consumer just after the saved
// sequence. The saved state is the state of record: a consumer left
// elsewhere (messages delivered and never acknowledged by a run that
// stopped, or a state reset) is created again at the saved position,
// since JetStream cannot move a consumer.
func (s *Source) open(ctx context.Context, rs connector.Stream, state json.RawMessage, batch int) (*stream, error) {
	var sc StreamConfig
	if err := connector.DecodeConfig(rs.Config, &sc); err != nil {
		return nil, fmt.Errorf("stream %s: %w", rs.Name, err)
	}
	format := sc.Format
	if format == "" {
		format = s.cfg.Format
	}
	format, err := msgrows.CheckFormat(format)
	if err != nil {
		return nil, fmt.Errorf("stream %s: format: %w", rs.Name, err)
	}
	jsName := sc.Stream
	if jsName == "" {
		jsName = rs.Name
	}
	var saved State
	if state != nil {
		if err := json.Unmarshal(state, &saved); err != nil {
			return nil, fmt.Errorf("stream %s: saved state: %w", rs.Name, err)
		}
	}
	str, err := s.js.Stream(ctx, jsName)
	if err != nil {
		return nil, fmt.Errorf("stream %s: jetstream stream %q: %w", rs.Name, jsName, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: jetstream stream %q: %w", rs.Name, jsName, err)
	}
	durable := s.cfg.Durable
	if durable == "" {
		durable = "tributary_{stream}"
	}
	durable = sanitize(replaceStream(durable, rs.Name))
	cfg := jetstream.ConsumerConfig{
		Durable:       durable,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       s.ackWait,
		MaxAckPending: -1,
		FilterSubject: sc.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if saved.Seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, saved.Seq+1
	}
	cons, err := str.Consumer(ctx, durable)
	switch {
	case err == nil:
		ci := cons.CachedInfo()
		if ci.Delivered.Stream != saved.Seq || ci.AckFloor.Stream != saved.Seq || ci.Config.FilterSubject != sc.Subject ||
			ci.Config.AckPolicy != jetstream.AckAllPolicy {
			if err := str.DeleteConsumer(ctx, durable); err != nil {
				return nil, fmt.Errorf("stream %s: reposition consumer %s: %w", rs.Name, durable, err)
			}
			cons = nil
		}
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cons = nil
	default:
		return nil, fmt.Errorf("stream %s: consumer %s: %w", rs.Name, durable, err)
	}
	if cons == nil {
		if cons, err = str.CreateConsumer(ctx, cfg); err != nil {
			return nil, fmt.Errorf("stream %s: create consumer %s: %w", rs.Name, durable, err)
		}
	}
	st := &stream{name: rs.Name, jsName: jsName, cons: cons, last: saved.Seq, end: info.State.LastSeq, consumer: durable,
		builder: msgrows.NewBuilder(rs.Name, format, batch, metaFields, rs.Schema)}
	ci, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: consumer %s: %w", rs.Name, durable, err)
	}
	s.setLag(rs.Name, int64(ci.NumPending))
	st.done = !s.cfg.Continuous && (ci.NumPending == 0 || saved.Seq >= st.end)
	return st, nil
}

func replaceStream(s, name string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		if i+8 <= len(s) && s[i:i+8] == "{stream}" {
			out = append(out, name...)
			i += 7
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

// sanitize replaces the characters a consumer name cannot hold.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

func (s *Source) setLag(stream string, n int64) {
	s.mu.Lock()
	s.lag[stream] = n
	s.mu.Unlock()
}

// Read fetches every stream's messages in turn. Each fetch's messages are
// followed by a checkpoint, so the engine commits micro-batches at its
// own pace; the messages are acknowledged when it tells the source the
// checkpoint was committed.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	var streams []*stream
	for _, rs := range req.Streams {
		st, err := s.open(ctx, rs, req.State[rs.Name], req.BatchSize)
		if err != nil {
			return err
		}
		streams = append(streams, st)
		if st.done {
			// Record the position even when there is nothing to read.
			if err := emit.Checkpoint(ctx, st.name, st.state()); err != nil {
				return err
			}
		}
	}
	batch := min(max(req.BatchSize, 1), 1000)
	wait := time.Second / time.Duration(max(len(streams), 1))
	for {
		active := 0
		for _, st := range streams {
			if st.done {
				continue
			}
			active++
			if err := s.fetch(ctx, emit, st, batch, wait); err != nil {
				return err
			}
		}
		if active == 0 {
			return nil
		}
	}
}

func (s *Source) fetch(ctx context.Context, emit connector.Emitter, st *stream, n int, wait time.Duration) error {
	// A bounded read takes what is there at once rather than wait for a
	// full batch that may never come.
	var msgs jetstream.MessageBatch
	var err error
	if s.cfg.Continuous {
		msgs, err = st.cons.Fetch(n, jetstream.FetchMaxWait(wait))
	} else {
		msgs, err = st.cons.FetchNoWait(n)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("stream %s: fetch: %w", st.name, err)
	}
	got := 0
	var pending uint64
	for m := range msgs.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("stream %s: message metadata: %w", st.name, err)
		}
		seq := md.Sequence.Stream
		pending = md.NumPending
		if seq <= st.last {
			// Delivered again after ack_wait: read already.
			continue
		}
		if !s.cfg.Continuous && seq > st.end {
			// Past the end of a bounded read: the next run reads it. It is
			// not acknowledged, and the consumer is positioned again then.
			st.done = true
			continue
		}
		var headers any
		if h := m.Headers(); len(h) > 0 {
			hm := make(map[string]any, len(h))
			for k, v := range h {
				if len(v) == 1 {
					hm[k] = v[0]
				} else {
					hm[k] = v
				}
			}
			headers = hm
		}
		meta := []any{m.Subject(), int64(seq), md.Timestamp.UTC(), headers}
		if err := st.builder.Add(ctx, emit, m.Data(), meta, st.jsName+"/"+strconv.FormatUint(seq, 10)); err != nil {
			return err
		}
		st.last, st.lastMsg = seq, m
		got++
		if !s.cfg.Continuous && (seq >= st.end || md.NumPending == 0) {
			st.done = true
		}
	}
	if err := msgs.Error(); err != nil && !errors.Is(err, natsgo.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("stream %s: fetch: %w", st.name, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if got > 0 {
		s.setLag(st.name, int64(pending))
	} else if ci, err := st.cons.Info(ctx); err == nil {
		s.setLag(st.name, int64(ci.NumPending))
		if !s.cfg.Continuous && ci.NumPending == 0 {
			st.done = true
		} else if !s.cfg.Continuous {
			select {
			case <-time.After(wait / 10):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := st.builder.Flush(ctx, emit); err != nil {
		return err
	}
	if got > 0 {
		s.mu.Lock()
		if s.pending[st.name] == nil {
			s.pending[st.name] = map[uint64]jetstream.Msg{}
		}
		s.pending[st.name][st.last] = st.lastMsg
		s.mu.Unlock()
	}
	if got > 0 || s.cfg.Continuous || st.done {
		// An idle continuous stream checkpoints too, so that the engine's
		// commit_interval commits what is pending.
		return emit.Checkpoint(ctx, st.name, st.state())
	}
	return nil
}

// Lag is, per stream, the messages its consumer has yet to receive.
func (s *Source) Lag() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.lag))
	for k, v := range s.lag {
		out[k] = v
	}
	return out
}

// Committed acknowledges, under the consumer's AckAll policy, every
// message up to the committed sequence.
func (s *Source) Committed(ctx context.Context, stream string, state json.RawMessage) error {
	var st State
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	s.mu.Lock()
	var ack jetstream.Msg
	var at uint64
	for seq, m := range s.pending[stream] {
		if seq <= st.Seq {
			if seq >= at {
				ack, at = m, seq
			}
			delete(s.pending[stream], seq)
		}
	}
	s.mu.Unlock()
	if ack == nil {
		return nil
	}
	if err := ack.DoubleAck(ctx); err != nil {
		return fmt.Errorf("acknowledge sequence %d: %w", at, err)
	}
	return nil
}
