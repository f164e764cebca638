package e2e

import (
	"strings"
	"testing"
)

// TestServeOffersDemo: an empty store's serve says how to get the example
// pipeline; --demo creates it; a store with pipelines hears no offer.
func TestServeOffersDemo(t *testing.T) {
	dir := t.TempDir()
	const offer = "restart with --demo"
	for _, c := range []struct {
		name  string
		args  []string
		offer bool
	}{
		{"empty store", nil, true},
		{"demo", []string{"--demo"}, false},
		{"store with the demo", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := serve(t, dir, nil, c.args...)
			if got := strings.Contains(s.logs.String(), offer); got != c.offer {
				t.Errorf("offer of the demo in the log: %v, want %v:\n%s", got, c.offer, s.logs)
			}
			var list struct {
				Items []struct {
					Name string `json:"name"`
				} `json:"items"`
			}
			s.json(200, "GET", "/api/v1/pipelines", nil, &list)
			if wantDemo := !c.offer; (len(list.Items) == 1 && list.Items[0].Name == "people-to-sqlite") != wantDemo {
				t.Errorf("pipelines %+v, demo pipeline wanted: %v", list.Items, wantDemo)
			}
		})
	}
}
