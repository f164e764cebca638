package connector

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// SourceFactory builds a source from its JSON config.
type SourceFactory func(ctx context.Context, config json.RawMessage) (Source, error)

// DestinationFactory builds a destination from its JSON config.
type DestinationFactory func(ctx context.Context, config json.RawMessage) (Destination, error)

type sourceEntry struct {
	spec Spec
	new  SourceFactory
}

type destinationEntry struct {
	spec Spec
	new  DestinationFactory
}

// The registry is the one global of the SDK, as database/sql's drivers are.
var (
	mu           sync.RWMutex
	sources      = map[string]sourceEntry{}
	destinations = map[string]destinationEntry{}
)

// RegisterSource makes a source connector available under spec.Name. It
// panics on a duplicate name, which is a programming error.
func RegisterSource(spec Spec, f SourceFactory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := sources[spec.Name]; dup {
		panic("connector: source registered twice: " + spec.Name)
	}
	sources[spec.Name] = sourceEntry{spec, f}
}

// RegisterDestination makes a destination connector available under
// spec.Name.
func RegisterDestination(spec Spec, f DestinationFactory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := destinations[spec.Name]; dup {
		panic("connector: destination registered twice: " + spec.Name)
	}
	destinations[spec.Name] = destinationEntry{spec, f}
}

// NewSource builds the source connector called name.
func NewSource(ctx context.Context, name string, config json.RawMessage) (Source, error) {
	mu.RLock()
	e, ok := sources[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown source connector %q", name)
	}
	s, err := e.new(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("%s source: %w", name, err)
	}
	return s, nil
}

// NewDestination builds the destination connector called name.
func NewDestination(ctx context.Context, name string, config json.RawMessage) (Destination, error) {
	mu.RLock()
	e, ok := destinations[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown destination connector %q", name)
	}
	d, err := e.new(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("%s destination: %w", name, err)
	}
	return d, nil
}

// Info describes a registered connector.
type Info struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Source      *Spec  `json:"source,omitempty"`
	Destination *Spec  `json:"destination,omitempty"`
}

// List returns every registered connector, sorted by name.
func List() []Info {
	mu.RLock()
	defer mu.RUnlock()
	byName := map[string]*Info{}
	get := func(n string) *Info {
		if i, ok := byName[n]; ok {
			return i
		}
		i := &Info{Name: n}
		byName[n] = i
		return i
	}
	for n, e := range sources {
		sp := e.spec
		i := get(n)
		i.Source, i.Description = &sp, sp.Description
	}
	for n, e := range destinations {
		sp := e.spec
		i := get(n)
		i.Destination = &sp
		if i.Description == "" {
			i.Description = sp.Description
		}
	}
	out := make([]Info, 0, len(byName))
	for _, i := range byName {
		out = append(out, *i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Lookup returns the connector called name.
func Lookup(name string) (Info, bool) {
	for _, i := range List() {
		if i.Name == name {
			return i, true
		}
	}
	return Info{}, false
}

// OtherRoleKeys returns the config keys the connector declares only for
// the role it is not used in (destination keys when source is true): a
// stored connection serving both roles holds both, and each role leaves
// the other's out.
func (i Info) OtherRoleKeys(source bool) map[string]bool {
	if i.Source == nil || i.Destination == nil {
		return nil
	}
	this, other := i.Source, i.Destination
	if !source {
		this, other = other, this
	}
	known := configKeys(this.Config)
	out := map[string]bool{}
	for key := range configKeys(other.Config) {
		if !known[key] {
			out[key] = true
		}
	}
	return out
}

// configKeys returns the top-level properties of a config JSON Schema.
func configKeys(schema json.RawMessage) map[string]bool {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		return nil
	}
	out := make(map[string]bool, len(s.Properties))
	for key := range s.Properties {
		out[key] = true
	}
	return out
}
