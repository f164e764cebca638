package pipeline

import (
	"strings"
	"testing"
)

// TestRunOptions: retries, retry_backoff and timeout are read, and bad
// values are reported with their path and line.
func TestRunOptions(t *testing.T) {
	vars := env(map[string]string{"OUT": "x", "TOKEN": "y"})
	cases := []struct {
		name    string
		options string
		want    []string // errors; none means valid
		check   func(t *testing.T, o Options)
	}{
		{"set", "  retries: 3\n  retry_backoff: 10s\n  timeout: 5m\n", nil, func(t *testing.T, o Options) {
			if o.Retries != 3 || o.RetryBackoff != "10s" || o.Timeout != "5m" {
				t.Errorf("options %+v", o)
			}
		}},
		{"unset", "", nil, func(t *testing.T, o Options) {
			if o.Retries != 0 || o.RetryBackoff != "" || o.Timeout != "" {
				t.Errorf("options %+v", o)
			}
		}},
		{"negative retries", "  retries: -1\n", []string{"line 24: options.retries: must be 0 or more"}, nil},
		{"bad durations", "  retry_backoff: soon\n  timeout: -5m\n", []string{
			`line 24: options.retry_backoff: must be a positive duration such as "30s"`,
			`line 25: options.timeout: must be a positive duration such as "30s"`,
		}, nil},
		{"misspelt", "  retry: 2\n", []string{"line 24: options.retry: unknown field"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse([]byte(good+c.options), vars)
			if err == nil {
				err = s.Validate()
			}
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				c.check(t, s.Options)
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
