package nats_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

func TestSpecMarksSecrets(t *testing.T) {
	info, ok := connector.Lookup("nats")
	if !ok || info.Source == nil || info.Destination == nil {
		t.Fatalf("nats is not registered as source and destination: %+v", info)
	}
	for _, sp := range []*connector.Spec{info.Source, info.Destination} {
		if !slices.Equal(sp.Secrets, []string{"password", "token"}) {
			t.Errorf("%s secrets = %v", sp.Name, sp.Secrets)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		config, want string
	}{
		{`{"format": "avro"}`, `config.format: "avro" is not one of json, string, bytes`},
		{`{"ack_wait": "soon"}`, `config.ack_wait: "soon" is not a positive duration`},
		{`{"subjects": "x"}`, `unknown field "subjects"`},
		{`{"url": "nats://127.0.0.1:1"}`, `config.url: connect to nats://127.0.0.1:1`},
	} {
		_, err := connector.NewSource(context.Background(), "nats", []byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.config, err, tc.want)
		}
	}
}
