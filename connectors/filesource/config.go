package filesource

import (
	"errors"
	"fmt"

	"github.com/tributary-data/tributary/connector"
)

// Named is a stream declared in a connector config with its own settings.
type Named[S any] struct {
	Name     string
	Settings S
}

// Settings is what a file source needs from its settings type S: the path
// pattern and how a more specific S overrides a general one.
type Settings[S any] interface {
	PathPattern() string
	Merge(over S) S
}

// NewSource builds the Source of a connector whose config holds top-level
// settings and, optionally, named streams each with their own. A stream's
// settings are the top-level ones, overridden by the named stream's, then
// by the stream's own config map from the pipeline. open makes the format
// of a stream from its final settings.
func NewSource[S Settings[S]](kind string, top S, named []Named[S], open func(S, connector.Stream) (Format, error)) *Source {
	src := &Source{Kind: kind}
	for _, n := range named {
		src.Patterns = append(src.Patterns, Pattern{Stream: n.Name, Path: top.Merge(n.Settings).PathPattern()})
	}
	if len(named) == 0 && top.PathPattern() != "" {
		src.Patterns = []Pattern{{Stream: StreamName(top.PathPattern(), kind), Path: top.PathPattern()}}
	}
	src.Stream = func(s connector.Stream) (string, Format, error) {
		st := top
		for _, n := range named {
			if n.Name == s.Name {
				st = st.Merge(n.Settings)
			}
		}
		if s.Config != nil {
			var own S
			if err := connector.DecodeConfig(s.Config, &own); err != nil {
				return "", nil, fmt.Errorf("stream settings: %w", err)
			}
			st = st.Merge(own)
		}
		if st.PathPattern() == "" {
			return "", nil, errors.New("no path configured")
		}
		f, err := open(st, s)
		if err != nil {
			return "", nil, err
		}
		return st.PathPattern(), f, nil
	}
	return src
}
