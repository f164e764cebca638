package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/msgrows"
)

// SourceConfig configures the kafka source.
type SourceConfig struct {
	Brokers    []string `json:"brokers" jsonschema:"required,minItems=1,description=Bootstrap brokers as host:port"`
	ClientID   string   `json:"client_id,omitempty" jsonschema:"description=Client id sent to the brokers (default tributary)"`
	Format     string   `json:"format,omitempty" jsonschema:"enum=json,enum=string,enum=bytes,description=How message values are read: json (an object whose fields become columns; the default), string or bytes (one column named value)"`
	Group      string   `json:"group,omitempty" jsonschema:"description=Consumer group whose offsets are committed after the destination committed, for monitoring; the state saved with the destination stays the state of record"`
	Continuous bool     `json:"continuous,omitempty" jsonschema:"description=Read without end: micro-batches committed every commit_rows rows or commit_interval until the run is stopped. Without it a run reads up to the high-water marks found at its start"`
}

// StreamConfig holds a stream's own settings.
type StreamConfig struct {
	Topics     []string `json:"topics,omitempty" jsonschema:"description=Topics the stream reads (default: the topic named like the stream)"`
	TopicRegex string   `json:"topic_regex,omitempty" jsonschema:"description=Read every topic whose whole name matches this regular expression"`
	Format     string   `json:"format,omitempty" jsonschema:"enum=json,enum=string,enum=bytes,description=Overrides the source's format for this stream"`
}

// Metadata columns every row of the source starts with.
const (
	KeyField       = "_kafka_key"
	TopicField     = "_kafka_topic"
	PartitionField = "_kafka_partition"
	OffsetField    = "_kafka_offset"
	TimestampField = "_kafka_timestamp"
	HeadersField   = "_kafka_headers"
)

var metaFields = []connector.Field{
	{Name: KeyField, Type: connector.TypeString, Nullable: true},
	{Name: TopicField, Type: connector.TypeString},
	{Name: PartitionField, Type: connector.TypeInt64},
	{Name: OffsetField, Type: connector.TypeInt64},
	{Name: TimestampField, Type: connector.TypeTimestamp},
	{Name: HeadersField, Type: connector.TypeJSON, Nullable: true},
}

func init() {
	connector.RegisterSource(connector.NewSpec[SourceConfig, StreamConfig]("kafka",
		"Apache Kafka topics: JSON, string or bytes values with key, partition, offset, timestamp and headers; offsets saved with the destination's commit"), NewSource)
}

// State is a stream's checkpoint: per topic and partition, the offset of
// the next record to read.
type State struct {
	Offsets map[string]map[int32]int64 `json:"offsets"`
}

// Source reads Kafka topics.
type Source struct {
	cfg SourceConfig
	adm *kadm.Client

	mu sync.Mutex
	// high and next hold, per stream, topic and partition, the high-water
	// mark last seen and the next offset to read: the lag.
	high, next map[string]map[string]map[int32]int64
}

// NewSource builds a kafka source from its JSON config.
func NewSource(_ context.Context, raw json.RawMessage) (connector.Source, error) {
	var cfg SourceConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("config.brokers: at least one broker is required")
	}
	if _, err := msgrows.CheckFormat(cfg.Format); err != nil {
		return nil, fmt.Errorf("config.format: %w", err)
	}
	cl, err := kgo.NewClient(clientOpts(cfg.Brokers, cfg.ClientID)...)
	if err != nil {
		return nil, fmt.Errorf("config.brokers: %w", err)
	}
	return &Source{cfg: cfg, adm: kadm.NewClient(cl)}, nil
}

func clientOpts(brokers []string, id string) []kgo.Opt {
	if id == "" {
		id = "tributary"
	}
	return []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID(id)}
}

// Check lists the brokers' topics.
func (s *Source) Check(ctx context.Context) error {
	if _, err := s.adm.ListTopics(ctx); err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	return nil
}

// Close closes the admin client.
func (s *Source) Close() error {
	s.adm.Close()
	return nil
}

// Discover offers one stream per topic. Values are schemaless: the schema
// lists the metadata columns, and a JSON value's fields join it as read.
func (s *Source) Discover(ctx context.Context) (*connector.Catalog, error) {
	td, err := s.adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	cat := &connector.Catalog{}
	for _, t := range td.Sorted() {
		cat.Streams = append(cat.Streams, connector.StreamInfo{
			Name:      t.Topic,
			Schema:    connector.NewSchema(metaFields...),
			SyncModes: []connector.SyncMode{connector.IncrementalAppend, connector.IncrementalDedup},
		})
	}
	return cat, nil
}

// stream is one pipeline stream being read.
type stream struct {
	name    string
	format  string
	topics  []string
	next    map[string]map[int32]int64 // next offset to read
	end     map[string]map[int32]int64 // high-water marks at the start
	builder *msgrows.Builder
	dirty   bool
}

func (st *stream) state() json.RawMessage {
	b, _ := json.Marshal(State{Offsets: st.next})
	return b
}

// done reports whether a bounded read reached every partition's end.
func (st *stream) done() bool {
	for t, ps := range st.end {
		for p, end := range ps {
			if st.next[t][p] < end {
				return false
			}
		}
	}
	return true
}

func (s *Source) resolve(ctx context.Context, req connector.ReadRequest) ([]*stream, error) {
	var all kadm.TopicDetails
	var streams []*stream
	owner := map[string]string{}
	for _, rs := range req.Streams {
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
		topics := sc.Topics
		if sc.TopicRegex != "" {
			re, err := regexp.Compile("^(?:" + sc.TopicRegex + ")$")
			if err != nil {
				return nil, fmt.Errorf("stream %s: topic_regex: %w", rs.Name, err)
			}
			if all == nil {
				if all, err = s.adm.ListTopics(ctx); err != nil {
					return nil, fmt.Errorf("list topics: %w", err)
				}
			}
			for _, t := range all.Names() {
				if re.MatchString(t) {
					topics = append(topics, t)
				}
			}
		} else if len(topics) == 0 {
			topics = []string{rs.Name}
		}
		slices.Sort(topics)
		topics = slices.Compact(topics)
		for _, t := range topics {
			if o, dup := owner[t]; dup {
				return nil, fmt.Errorf("stream %s: topic %q is read by stream %s too", rs.Name, t, o)
			}
			owner[t] = rs.Name
		}
		var saved State
		if raw := req.State[rs.Name]; raw != nil {
			if err := json.Unmarshal(raw, &saved); err != nil {
				return nil, fmt.Errorf("stream %s: saved state: %w", rs.Name, err)
			}
		}
		st := &stream{name: rs.Name, format: format, topics: topics, next: map[string]map[int32]int64{}, end: map[string]map[int32]int64{},
			builder: msgrows.NewBuilder(rs.Name, format, req.BatchSize, metaFields, rs.Schema)}
		if len(topics) > 0 {
			starts, err := s.adm.ListStartOffsets(ctx, topics...)
			if err != nil {
				return nil, fmt.Errorf("stream %s: list start offsets: %w", rs.Name, err)
			}
			// The last stable offsets: a read_committed consumer reads up to
			// them, transactions still open at the start excluded.
			ends, err := s.adm.ListCommittedOffsets(ctx, topics...)
			if err != nil {
				return nil, fmt.Errorf("stream %s: list end offsets: %w", rs.Name, err)
			}
			for _, t := range topics {
				ps, ok := ends[t]
				if !ok || len(ps) == 0 {
					return nil, fmt.Errorf("stream %s: topic %q does not exist", rs.Name, t)
				}
				st.next[t], st.end[t] = map[int32]int64{}, map[int32]int64{}
				for p, lo := range ps {
					if errors.Is(lo.Err, kerr.UnknownTopicOrPartition) {
						return nil, fmt.Errorf("stream %s: topic %q does not exist", rs.Name, t)
					}
					if lo.Err != nil {
						return nil, fmt.Errorf("stream %s: topic %q partition %d: %w", rs.Name, t, p, lo.Err)
					}
					from := saved.Offsets[t][p]
					if so, ok := starts.Lookup(t, p); ok && so.Err == nil && from < so.Offset {
						// Retention deleted records past the saved offset:
						// read from the oldest there is.
						from = so.Offset
					}
					st.next[t][p], st.end[t][p] = from, lo.Offset
				}
			}
		}
		streams = append(streams, st)
	}
	return streams, nil
}

// Read reads every partition of the streams' topics from the saved offsets:
// up to the high-water marks found at the start, or without end when
// continuous. Each poll's records are followed by a checkpoint of the
// offsets, so the engine commits micro-batches at its own pace.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, emit connector.Emitter) error {
	streams, err := s.resolve(ctx, req)
	if err != nil {
		return err
	}
	byTopic := map[string]*stream{}
	consume := map[string]map[int32]kgo.Offset{}
	s.mu.Lock()
	s.high, s.next = map[string]map[string]map[int32]int64{}, map[string]map[string]map[int32]int64{}
	for _, st := range streams {
		s.high[st.name], s.next[st.name] = map[string]map[int32]int64{}, map[string]map[int32]int64{}
		for _, t := range st.topics {
			byTopic[t] = st
			consume[t] = map[int32]kgo.Offset{}
			for p, at := range st.next[t] {
				consume[t][p] = kgo.NewOffset().At(at)
			}
			s.high[st.name][t], s.next[st.name][t] = maps.Clone(st.end[t]), maps.Clone(st.next[t])
		}
	}
	s.mu.Unlock()
	for _, st := range streams {
		// A stream with nothing to read still records where it is, so that
		// its state exists from the first run on.
		if !s.cfg.Continuous && st.done() {
			if err := emit.Checkpoint(ctx, st.name, st.state()); err != nil {
				return err
			}
		}
	}
	if len(consume) == 0 || (!s.cfg.Continuous && allDone(streams)) {
		return nil
	}
	// Control records (transaction markers) are kept so that their
	// offsets advance the state: a bounded read would otherwise wait for
	// offsets no consumer ever sees.
	cl, err := kgo.NewClient(append(clientOpts(s.cfg.Brokers, s.cfg.ClientID), kgo.ConsumePartitions(consume),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	idle := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && ferr == nil {
				name := "?"
				if st := byTopic[t]; st != nil {
					name = st.name
				}
				ferr = fmt.Errorf("stream %s: topic %q partition %d: %w", name, t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		var perr error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			st := byTopic[fp.Topic]
			if st == nil || perr != nil {
				return
			}
			s.mu.Lock()
			s.high[st.name][fp.Topic][fp.Partition] = fp.HighWatermark
			s.mu.Unlock()
			for _, r := range fp.Records {
				if !s.cfg.Continuous && r.Offset >= st.end[r.Topic][r.Partition] {
					continue
				}
				if r.Attrs.IsControl() {
					st.next[r.Topic][r.Partition] = r.Offset + 1
					st.dirty = true
					s.mu.Lock()
					s.next[st.name][r.Topic][r.Partition] = r.Offset + 1
					s.mu.Unlock()
					continue
				}
				if perr = s.add(ctx, emit, st, r); perr != nil {
					return
				}
			}
		})
		if perr != nil {
			return perr
		}
		for _, st := range streams {
			if !st.dirty && !s.cfg.Continuous {
				continue
			}
			if err := st.builder.Flush(ctx, emit); err != nil {
				return err
			}
			if err := emit.Checkpoint(ctx, st.name, st.state()); err != nil {
				return err
			}
			st.dirty = false
		}
		if !s.cfg.Continuous && allDone(streams) {
			return nil
		}
		if fetches.NumRecords() > 0 {
			idle = 0
		} else if idle++; !s.cfg.Continuous && idle >= maxIdlePolls {
			// Offsets below the end may hold nothing to fetch (records
			// removed by compaction or retention meanwhile): a bounded read
			// ends once nothing more arrives.
			return nil
		}
	}
}

// maxIdlePolls is how many empty polls of a second end a bounded read
// short of a high-water mark.
const maxIdlePolls = 5

func allDone(streams []*stream) bool {
	for _, st := range streams {
		if !st.done() {
			return false
		}
	}
	return true
}

func (s *Source) add(ctx context.Context, emit connector.Emitter, st *stream, r *kgo.Record) error {
	var key any
	if r.Key != nil {
		key = string(r.Key)
	}
	var headers any
	if len(r.Headers) > 0 {
		h := make(map[string]any, len(r.Headers))
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		headers = h
	}
	meta := []any{key, r.Topic, int64(r.Partition), r.Offset, r.Timestamp.UTC(), headers}
	origin := r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "/" + strconv.FormatInt(r.Offset, 10)
	if err := st.builder.Add(ctx, emit, r.Value, meta, origin); err != nil {
		return err
	}
	st.next[r.Topic][r.Partition] = r.Offset + 1
	st.dirty = true
	s.mu.Lock()
	s.next[st.name][r.Topic][r.Partition] = r.Offset + 1
	s.mu.Unlock()
	return nil
}

// Lag is, per stream, the records between the high-water marks last seen
// and the next offsets to read.
func (s *Source) Lag() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for name, topics := range s.high {
		var n int64
		for t, ps := range topics {
			for p, hw := range ps {
				if d := hw - s.next[name][t][p]; d > 0 {
					n += d
				}
			}
		}
		out[name] = n
	}
	return out
}

// Committed commits the offsets the destination committed to the consumer
// group, when one is configured, so that Kafka tools see the pipeline's
// progress.
func (s *Source) Committed(ctx context.Context, _ string, state json.RawMessage) error {
	if s.cfg.Group == "" {
		return nil
	}
	var st State
	if err := json.Unmarshal(state, &st); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	offs := kadm.Offsets{}
	for t, ps := range st.Offsets {
		for p, at := range ps {
			offs.Add(kadm.Offset{Topic: t, Partition: p, At: at, LeaderEpoch: -1})
		}
	}
	if err := s.adm.CommitAllOffsets(ctx, s.cfg.Group, offs); err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", s.cfg.Group, err)
	}
	return nil
}
