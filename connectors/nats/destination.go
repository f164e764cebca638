package nats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/msgrows"
)

// DestinationConfig configures the nats destination.
type DestinationConfig struct {
	Conn
	Subject           string `json:"subject,omitempty" jsonschema:"description=Subject rows are published to; {stream} is replaced by the stream's name (default {stream})"`
	QuarantineSubject string `json:"quarantine_subject,omitempty" jsonschema:"description=Subject quarantined records are published to as JSON (default: the subject followed by .quarantine); a stream must capture it"`
}

func init() {
	connector.RegisterDestination(connector.NewSpec[DestinationConfig, struct{}]("nats",
		"NATS JetStream: one JSON message per row, with a message ID so that a row published again is dropped as a duplicate"), NewDestination)
}

// Destination publishes rows to JetStream.
type Destination struct {
	cfg DestinationConfig
	nc  *natsgo.Conn
	js  jetstream.JetStream
}

// NewDestination builds a nats destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Subject == "" {
		cfg.Subject = "{stream}"
	}
	if cfg.QuarantineSubject == "" {
		cfg.QuarantineSubject = cfg.Subject + ".quarantine"
	}
	nc, js, err := cfg.connect()
	if err != nil {
		return nil, err
	}
	return &Destination{cfg: cfg, nc: nc, js: js}, nil
}

// Check asks JetStream for the account's limits.
func (d *Destination) Check(ctx context.Context) error {
	if _, err := d.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account: %w", err)
	}
	return nil
}

// Close closes the connection.
func (d *Destination) Close() error {
	d.nc.Close()
	return nil
}

// Open starts publishing one stream.
func (d *Destination) Open(_ context.Context, load connector.Load) (connector.Writer, error) {
	return &writer{d: d, load: load,
		subject:    replaceStream(d.cfg.Subject, load.Stream),
		quarantine: replaceStream(d.cfg.QuarantineSubject, load.Stream)}, nil
}

type writer struct {
	d                   *Destination
	load                connector.Load
	subject, quarantine string
	acks                []jetstream.PubAckFuture
}

// Write publishes one message per row, its ID derived from the stream, the
// primary key and the row's content: a row published again after a
// restart is a duplicate JetStream drops within its duplicate window,
// while a new version of the row is not.
func (w *writer) Write(_ context.Context, b *connector.Batch) error {
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
		h := sha256.New()
		h.Write([]byte(w.load.Stream))
		for _, i := range keyIdx {
			h.Write([]byte{0})
			h.Write([]byte(connector.FormatValue(row[i])))
		}
		h.Write([]byte{0})
		h.Write(val)
		if err := w.publish(w.subject, val, hex.EncodeToString(h.Sum(nil)[:16])); err != nil {
			return fmt.Errorf("row %d: %w", n, err)
		}
	}
	return nil
}

func (w *writer) publish(subject string, data []byte, id string) error {
	f, err := w.d.js.PublishMsgAsync(&natsgo.Msg{Subject: subject, Data: data}, jetstream.WithMsgID(id))
	if err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	w.acks = append(w.acks, f)
	return nil
}

// Quarantine publishes each reject as JSON to the quarantine subject.
func (w *writer) Quarantine(_ context.Context, rejects []connector.Reject) error {
	for _, r := range rejects {
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(append([]byte(r.Stream+"\x00"+r.Origin+"\x00"), v...))
		if err := w.publish(w.quarantine, v, hex.EncodeToString(sum[:16])); err != nil {
			return err
		}
	}
	return nil
}

// Commit waits for JetStream to acknowledge every message published so
// far. JetStream holds no state of ours: the engine keeps it in the store
// or state file.
func (w *writer) Commit(ctx context.Context, _ json.RawMessage) error {
	acks := w.acks
	w.acks = nil
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish to %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close waits for the acknowledgements when ok. Messages published cannot
// be taken back; published again by a rerun, JetStream drops them by ID.
func (w *writer) Close(ctx context.Context, ok bool) error {
	if !ok {
		return nil
	}
	return w.Commit(ctx, nil)
}
