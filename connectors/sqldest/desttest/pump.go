package desttest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tributary-data/tributary/connector"
)

// Pump moves one stream from src to dst the way the engine does: state
// from the destination's store, every checkpoint a commit, rejects to the
// quarantine. Crash tests run it in a process they kill.
func Pump(ctx context.Context, src connector.Source, dst connector.Destination, pipeline string, st connector.Stream, schema *connector.Schema, batch int) error {
	ss, ok := dst.(connector.StateStore)
	if !ok {
		return fmt.Errorf("destination keeps no state")
	}
	state, err := ss.State(ctx, pipeline)
	if err != nil {
		return err
	}
	w, err := dst.Open(ctx, connector.Load{Pipeline: pipeline, RunID: "pump", Stream: st.Name, Schema: schema,
		SyncMode: st.SyncMode, PrimaryKey: st.PrimaryKey, CursorField: st.CursorField, SchemaPolicy: connector.SchemaEvolve})
	if err != nil {
		return err
	}
	err = src.Read(ctx, connector.ReadRequest{Streams: []connector.Stream{st}, State: state, BatchSize: batch}, &pump{w: w})
	if cerr := w.Close(ctx, err == nil); err == nil {
		err = cerr
	}
	return err
}

type pump struct{ w connector.Writer }

func (p *pump) Emit(ctx context.Context, b *connector.Batch) error { return p.w.Write(ctx, b) }

func (p *pump) Checkpoint(ctx context.Context, _ string, st json.RawMessage) error {
	return p.w.Commit(ctx, st)
}

func (p *pump) Reject(ctx context.Context, r connector.Reject) error {
	return p.w.Quarantine(ctx, []connector.Reject{r})
}
