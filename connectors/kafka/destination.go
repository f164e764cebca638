package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/msgrows"
)

// DestinationConfig configures the kafka destination.
type DestinationConfig struct {
	Brokers  []string `json:"brokers" jsonschema:"required,minItems=1,description=Bootstrap brokers as host:port"`
	ClientID string   `json:"client_id,omitempty" jsonschema:"description=Client id sent to the brokers (default tributary)"`
	Topic    string   `json:"topic,omitempty" jsonschema:"description=Topic every stream is produced to; {stream} is replaced by the stream's name (default {stream})"`
	// QuarantineTopic receives rejected records as JSON.
	QuarantineTopic string `json:"quarantine_topic,omitempty" jsonschema:"description=Topic receiving quarantined records as JSON (default: the stream's topic followed by .quarantine)"`
}

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("kafka",
		"Apache Kafka topics: one JSON record per row, keyed by the primary key, through an idempotent producer flushed at every commit"), NewDestination)
}

// Destination produces rows to Kafka.
type Destination struct {
	cfg DestinationConfig
	cl  *kgo.Client
}

// NewDestination builds a kafka destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("config.brokers: at least one broker is required")
	}
	if cfg.Topic == "" {
		cfg.Topic = "{stream}"
	}
	// franz-go produces idempotently unless told otherwise: a retried
	// batch is written once.
	cl, err := kgo.NewClient(append(clientOpts(cfg.Brokers, cfg.ClientID), kgo.AllowAutoTopicCreation())...)
	if err != nil {
		return nil, fmt.Errorf("config.brokers: %w", err)
	}
	return &Destination{cfg: cfg, cl: cl}, nil
}

// Check asks the brokers for their metadata.
func (d *Destination) Check(ctx context.Context) error {
	if err := d.cl.Ping(ctx); err != nil {
		return fmt.Errorf("ping brokers: %w", err)
	}
	return nil
}

// Close closes the producer.
func (d *Destination) Close() error {
	d.cl.Close()
	return nil
}

// Open starts producing one stream.
func (d *Destination) Open(_ context.Context, load connector.Load) (connector.Writer, error) {
	topic := strings.ReplaceAll(d.cfg.Topic, "{stream}", load.Stream)
	qt := d.cfg.QuarantineTopic
	if qt == "" {
		qt = topic + ".quarantine"
	}
	qt = strings.ReplaceAll(qt, "{stream}", load.Stream)
	return &writer{d: d, load: load, topic: topic, quarantine: qt}, nil
}

type writer struct {
	d                 *Destination
	load              connector.Load
	topic, quarantine string

	mu  sync.Mutex
	err error // the first produce error since the last commit
}

func (w *writer) promise(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Write produces one record per row: the row as a JSON object, keyed by
// its primary key's values.
func (w *writer) Write(ctx context.Context, b *connector.Batch) error {
	keyIdx, err := msgrows.KeyIndexes(b.Schema, w.load.PrimaryKey)
	if err != nil {
		return err
	}
	names := b.Schema.Names()
	for n, row := range b.Rows {
		val, err := msgrows.EncodeRow(names, row)
		if err != nil {
			return fmt.Errorf("row %d: %w", n, err)
		}
		rec := &kgo.Record{Topic: w.topic, Value: val}
		if len(keyIdx) > 0 {
			if rec.Key, err = encodeKey(row, keyIdx); err != nil {
				return fmt.Errorf("row %d: key: %w", n, err)
			}
		}
		w.d.cl.Produce(ctx, rec, w.promise)
	}
	return nil
}

// encodeKey is the text of a single-field key, or a JSON array of the
// values of a compound one, so equal keys land on one partition.
func encodeKey(row []any, idx []int) ([]byte, error) {
	if len(idx) == 1 {
		switch v := row[idx[0]].(type) {
		case string:
			return []byte(v), nil
		case []byte:
			return v, nil
		case nil:
			return nil, nil
		}
		return []byte(connector.FormatValue(row[idx[0]])), nil
	}
	vals := make([]any, len(idx))
	for i, j := range idx {
		vals[i] = row[j]
	}
	return json.Marshal(vals)
}

// Quarantine produces each reject as JSON to the quarantine topic.
func (w *writer) Quarantine(ctx context.Context, rejects []connector.Reject) error {
	for _, r := range rejects {
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		w.d.cl.Produce(ctx, &kgo.Record{Topic: w.quarantine, Key: []byte(r.Origin), Value: v}, w.promise)
	}
	return nil
}

// Commit waits until every record produced so far is acknowledged. Kafka
// holds no state of ours: the engine keeps it in the store or state file.
func (w *writer) Commit(ctx context.Context, _ json.RawMessage) error {
	if err := w.d.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	w.mu.Lock()
	err := w.err
	w.err = nil
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("produce to %s: %w", w.topic, err)
	}
	return nil
}

// Close flushes what was produced when ok. Records already produced cannot
// be taken back; a rerun from the last committed state may produce them
// again, which consumers deduplicate by key.
func (w *writer) Close(ctx context.Context, ok bool) error {
	if !ok {
		return nil
	}
	return w.Commit(ctx, nil)
}
