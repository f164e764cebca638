package secrets

import (
	"context"
	"fmt"
	"maps"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/store"
)

// Sealer is the store.Sealer of a keyring: it encrypts the secret fields
// of connection configs (those the connector's spec marks) and of alert
// channel configs (webhook secret, SMTP password) on write, and decrypts
// them on read, so the database never holds them in the clear.
type Sealer struct {
	Keys *Keyring
}

var _ store.Sealer = Sealer{}

// ConnectionSecrets are the secret config fields of a connector, as
// source or destination.
func ConnectionSecrets(name string) []string {
	info, ok := connector.Lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, sp := range []*connector.Spec{info.Source, info.Destination} {
		if sp != nil {
			out = append(out, sp.Secrets...)
		}
	}
	return out
}

// Seal returns a copy of cfg with the secret fields encrypted; values
// already encrypted are kept as they are.
func (s Sealer) Seal(kind, typ string, cfg map[string]any) (map[string]any, error) {
	var fields []string
	switch kind {
	case "connection":
		fields = ConnectionSecrets(typ)
	case "alert_channel":
		fields = alert.Secrets(typ)
	}
	if len(fields) == 0 || cfg == nil {
		return cfg, nil
	}
	out := maps.Clone(cfg)
	for _, f := range fields {
		v, ok := out[f]
		if !ok || v == nil || IsEncrypted(v) {
			continue
		}
		enc, err := s.Keys.Encrypt(f, v)
		if err != nil {
			return nil, err
		}
		out[f] = enc
	}
	return out, nil
}

// Open decrypts every encrypted value of cfg in place.
func (s Sealer) Open(what string, cfg map[string]any) error {
	for k, v := range cfg {
		if !IsEncrypted(v) {
			continue
		}
		plain, err := s.Keys.Decrypt(k, v.(string))
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		cfg[k] = plain
	}
	return nil
}

// Reencrypt rewrites every connection and alert channel of st, which
// must have been opened with this keyring's Sealer, so their secrets are
// under the current key (after Keyring.Rotate); secrets stored plain from
// before encryption get encrypted too. It returns how many records it
// rewrote.
func Reencrypt(ctx context.Context, st store.Store) (int, error) {
	n := 0
	for off := 0; ; off += store.MaxLimit {
		cs, err := st.Connections(ctx, store.Page{Limit: store.MaxLimit, Offset: off})
		if err != nil {
			return n, err
		}
		for i := range cs {
			if err := st.UpdateConnection(ctx, &cs[i]); err != nil {
				return n, fmt.Errorf("connection %s: %w", cs[i].Name, err)
			}
			n++
		}
		if len(cs) < store.MaxLimit {
			break
		}
	}
	for off := 0; ; off += store.MaxLimit {
		cs, err := st.AlertChannels(ctx, store.Page{Limit: store.MaxLimit, Offset: off})
		if err != nil {
			return n, err
		}
		for i := range cs {
			if err := st.UpdateAlertChannel(ctx, &cs[i]); err != nil {
				return n, fmt.Errorf("alert channel %s: %w", cs[i].Name, err)
			}
			n++
		}
		if len(cs) < store.MaxLimit {
			break
		}
	}
	return n, nil
}
