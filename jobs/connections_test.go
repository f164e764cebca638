package jobs_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/tributary-data/tributary/jobs"
	specs "github.com/tributary-data/tributary/pipeline"
	"github.com/tributary-data/tributary/store"
)

// TestOneConnectionServesBothRoles: a stored Postgres connection with a
// destination's schema is read from as a source as well; keys no role knows
// stay, so validation still names a typo.
func TestOneConnectionServesBothRoles(t *testing.T) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t)
			conn := &store.Connection{Name: "shop", Connector: "postgres", Config: map[string]any{
				"url": "postgres://postgres@127.0.0.1:5432/test", "schema": "shop", "deletes": "hard", "shcema": "typo",
			}}
			if err := s.CreateConnection(ctx, conn); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				role     string
				own      map[string]any
				wantKeys []string
			}{
				{"source", nil, []string{"shcema", "url"}},
				{"source", map[string]any{"schemas": []any{"shop"}}, []string{"schemas", "shcema", "url"}},
				{"destination", nil, []string{"deletes", "schema", "shcema", "url"}},
				{"destination", map[string]any{"schema": "other"}, []string{"deletes", "schema", "shcema", "url"}},
			}
			for _, c := range cases {
				spec := &specs.Spec{
					Source:      specs.Source{Connector: "csv", Config: map[string]any{"path": "x.csv"}},
					Destination: specs.Destination{Connector: "sqlite", Config: map[string]any{"path": "x.db"}},
				}
				var got map[string]any
				if c.role == "source" {
					spec.Source = specs.Source{Connection: "shop", Config: maps.Clone(c.own)}
				} else {
					spec.Destination = specs.Destination{Connection: "shop", Config: maps.Clone(c.own)}
				}
				if err := jobs.ResolveConnections(ctx, s, spec); err != nil {
					t.Fatalf("%s %v: %v", c.role, c.own, err)
				}
				if c.role == "source" {
					got = spec.Source.Config
					if spec.Source.Connector != "postgres" {
						t.Errorf("source connector = %q", spec.Source.Connector)
					}
				} else {
					got = spec.Destination.Config
					if spec.Destination.Connector != "postgres" {
						t.Errorf("destination connector = %q", spec.Destination.Connector)
					}
				}
				if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, c.wantKeys) {
					t.Errorf("%s %v: config keys %v, want %v", c.role, c.own, keys, c.wantKeys)
				}
				for k, v := range c.own {
					if k == "schemas" {
						continue
					}
					if got[k] != v {
						t.Errorf("%s: %s = %v, want the spec's own %v", c.role, k, got[k], v)
					}
				}
			}
		})
	}
}
