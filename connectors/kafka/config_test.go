package kafka_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

func TestConfigErrors(t *testing.T) {
	addrs := cluster(t, "orders")
	for _, tc := range []struct {
		config, stream, want string
	}{
		{`{}`, `{}`, `config.brokers: at least one broker is required`},
		{`{"brokers": ["` + addrs[0] + `"], "format": "avro"}`, `{}`, `config.format: "avro" is not one of json, string, bytes`},
		{`{"brokers": ["` + addrs[0] + `"]}`, `{"topic_regex": "("}`, `stream orders: topic_regex: error parsing regexp`},
		{`{"brokers": ["` + addrs[0] + `"]}`, `{"topics": ["missing"]}`, `stream orders: topic "missing" does not exist`},
		{`{"brokers": ["` + addrs[0] + `"]}`, `{"format": "xml"}`, `stream orders: format: "xml" is not one of json, string, bytes`},
	} {
		src, err := connector.NewSource(context.Background(), "kafka", []byte(tc.config))
		if err == nil {
			var cfg map[string]any
			if err = connector.DecodeConfig([]byte(tc.stream), &cfg); err != nil {
				t.Fatal(err)
			}
			err = src.Read(context.Background(), connector.ReadRequest{Streams: []connector.Stream{{Name: "orders", Config: cfg}}}, nil)
			src.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.config, tc.stream, err, tc.want)
		}
	}
}
