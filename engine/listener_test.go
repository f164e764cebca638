package engine

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

// listeningSource is genSource telling, as a message stream does, what it
// heard committed, together with what the destination held by then.
type listeningSource struct {
	*genSource
	dest string
	mu   sync.Mutex
	// heard holds, per call, the state passed and the state the
	// destination had committed when the call came.
	heard [][2]string
}

func (l *listeningSource) Committed(_ context.Context, stream string, state json.RawMessage) error {
	v, _ := dests.Load(l.dest)
	d := v.(*memDestination)
	d.mu.Lock()
	env, err := unwrap(d.state[stream])
	d.mu.Unlock()
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.heard = append(l.heard, [2]string{string(state), string(env.State)})
	l.mu.Unlock()
	return nil
}

var listeners sync.Map // destination name → *listeningSource

func init() {
	type cfg struct {
		Rows int    `json:"rows"`
		Dest string `json:"dest"`
	}
	connector.RegisterSource(connector.NewSpec[cfg, struct{}]("genlisten", "generated rows, listening to commits"), func(_ context.Context, raw json.RawMessage) (connector.Source, error) {
		var c cfg
		if err := connector.DecodeConfig(raw, &c); err != nil {
			return nil, err
		}
		l := &listeningSource{genSource: &genSource{n: c.Rows, bad: map[int]bool{}}, dest: c.Dest}
		listeners.Store(c.Dest, l)
		return l, nil
	})
}

// A source implementing connector.CommitListener hears of each checkpoint
// once the destination committed it, never before, with the source's own
// state.
func TestCommitListenerHearsAfterTheDestinationCommitted(t *testing.T) {
	s := spec(t, "listen", "", 95, "", 0, true)
	s.Source.Connector = "genlisten"
	s.Source.Config = map[string]any{"rows": 95, "dest": "listen"}
	r, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Execute(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, _ := listeners.Load("listen")
	l := v.(*listeningSource)
	// commit_rows 20 over checkpoints every 10 rows: 20, 40, 60, 80, then
	// the end.
	want := []string{`{"next":20}`, `{"next":40}`, `{"next":60}`, `{"next":80}`, `{"next":95}`}
	if len(l.heard) != len(want) {
		t.Fatalf("heard %v, want %v", l.heard, want)
	}
	for i, h := range l.heard {
		if h[0] != want[i] || h[1] != want[i] {
			t.Errorf("call %d: heard %s with the destination at %s, want %s for both", i, h[0], h[1], want[i])
		}
	}
}
