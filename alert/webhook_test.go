package alert_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/store"
)

// receiver is a webhook endpoint that checks signatures with the shared
// secret, as a user's service would, and answers the statuses it is
// given, one per request, then 200.
type receiver struct {
	t       *testing.T
	secret  string
	answers []int
	delay   time.Duration

	mu     sync.Mutex
	bodies []map[string]any
	valid  []bool
	hits   int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Error(err)
		return
	}
	// The receiver's own check: HMAC-SHA256 of the raw body.
	m := hmac.New(sha256.New, []byte(rc.secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		rc.t.Errorf("webhook body is not JSON: %v: %s", err, body)
	}
	ts, _ := strconv.ParseInt(r.Header.Get(alert.TimestampHeader), 10, 64)
	sentAt, _ := time.Parse(time.RFC3339, doc["sent_at"].(string))
	ok := hmac.Equal([]byte(want), []byte(r.Header.Get(alert.SignatureHeader))) &&
		alert.Verify(rc.secret, body, r.Header.Get(alert.SignatureHeader)) &&
		r.Header.Get("Content-Type") == "application/json" &&
		r.Header.Get(alert.EventHeader) == doc["event"] &&
		r.Header.Get(alert.DeliveryHeader) == doc["delivery_id"] &&
		ts == sentAt.Unix() && time.Since(sentAt) < time.Minute
	rc.mu.Lock()
	rc.hits++
	n := rc.hits
	rc.bodies = append(rc.bodies, doc)
	rc.valid = append(rc.valid, ok)
	rc.mu.Unlock()
	if rc.delay > 0 {
		time.Sleep(rc.delay)
	}
	if n <= len(rc.answers) {
		w.WriteHeader(rc.answers[n-1])
		io.WriteString(w, "not now")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) seen() ([]map[string]any, []bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.bodies...), append([]bool(nil), rc.valid...)
}

func TestWebhookDelivery(t *testing.T) {
	const secret = "s3cret-shared-with-the-receiver"
	tests := []struct {
		name        string
		answers     []int
		delay       time.Duration
		settings    map[string]any
		status      store.DeliveryStatus
		attempts    int
		errContains string
	}{
		{"first attempt", nil, 0, nil, store.DeliverySent, 1, ""},
		{"retried after 5xx and 429", []int{503, 429, 500}, 0, nil, store.DeliverySent, 4, ""},
		{"client error is final", []int{400}, 0, nil, store.DeliveryFailed, 1, "400 Bad Request: not now"},
		{"gives up at max_attempts", []int{502, 502, 502, 502}, 0, map[string]any{"max_attempts": 3}, store.DeliveryFailed, 3, "gave up after 3 attempts"},
		{"timeout retried", nil, 300 * time.Millisecond, map[string]any{"timeout": "100ms", "max_attempts": 2}, store.DeliveryFailed, 2, "deadline exceeded"},
	}
	eachStore(t, func(t *testing.T, s store.Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rc := &receiver{t: t, secret: secret, answers: tt.answers, delay: tt.delay}
				srv := httptest.NewServer(rc)
				defer srv.Close()
				cfg := map[string]any{"url": srv.URL + "/hook", "secret": secret, "headers": map[string]any{"Authorization": "Bearer abc"}}
				for k, v := range tt.settings {
					cfg[k] = v
				}
				c := mustChannel(t, s, "hook "+tt.name, alert.Webhook, cfg)
				dispatch(t, s, nil)
				d := pending(t, s, c, testEvent("run-"+strings.ReplaceAll(tt.name, " ", "-")))
				got := settled(t, s, store.DeliveryFilter{ChannelID: c.ID})
				if len(got) != 1 || got[0].ID != d.ID {
					t.Fatalf("deliveries %+v", got)
				}
				g := got[0]
				if g.Status != tt.status || g.Attempts != tt.attempts || !strings.Contains(g.LastError, tt.errContains) {
					t.Fatalf("delivery status %s, attempts %d, error %q; want %s, %d, %q", g.Status, g.Attempts, g.LastError, tt.status, tt.attempts, tt.errContains)
				}
				if (g.Status == store.DeliverySent) != (g.SentAt != nil) {
					t.Errorf("sent_at %v with status %s", g.SentAt, g.Status)
				}
				bodies, valid := rc.seen()
				if len(bodies) != tt.attempts {
					t.Fatalf("receiver saw %d requests, want %d", len(bodies), tt.attempts)
				}
				for i, b := range bodies {
					if !valid[i] {
						t.Errorf("request %d: signature or headers did not verify: %v", i+1, b)
					}
					if b["attempt"] != float64(i+1) || b["delivery_id"] != d.ID || b["event"] != "run_failed" {
						t.Errorf("request %d body %v", i+1, b)
					}
				}
				b := bodies[0]
				run, _ := b["run"].(map[string]any)
				counts, _ := b["counts"].(map[string]any)
				pipe, _ := b["pipeline"].(map[string]any)
				if pipe["name"] != "orders" || run["status"] != "failed" || run["error"] != "boom" || counts["written"] != float64(4) ||
					!strings.HasSuffix(b["link"].(string), "/api/v1/runs/"+run["id"].(string)) || b["time"] == nil {
					t.Errorf("body %v", b)
				}
			})
		}
	})
}

func TestWebhookBackoffGrows(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store) {
		var mu sync.Mutex
		var at []time.Time
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			w.WriteHeader(503)
		}))
		defer srv.Close()
		c := mustChannel(t, s, "slow", alert.Webhook, map[string]any{"url": srv.URL, "secret": "x", "max_attempts": 4})
		metrics := alert.NewMetrics(prometheus.NewRegistry())
		d := &alert.Dispatcher{Store: s, Poll: 10 * time.Millisecond, Backoff: 100 * time.Millisecond, Metrics: metrics}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); d.Run(ctx) }()
		defer func() { cancel(); <-done }()
		pending(t, s, c, testEvent("r"))
		got := settled(t, s, store.DeliveryFilter{ChannelID: c.ID})
		if got[0].Attempts != 4 || got[0].Status != store.DeliveryFailed {
			t.Fatalf("delivery %+v", got[0])
		}
		if r, f := testutil.ToFloat64(metrics.Attempts.WithLabelValues("webhook", "retry")), testutil.ToFloat64(metrics.Attempts.WithLabelValues("webhook", "failed")); r != 3 || f != 1 {
			t.Errorf("attempt metrics: %v retries, %v failed; want 3 and 1", r, f)
		}
		mu.Lock()
		defer mu.Unlock()
		// Waits of 100, 200 and 400 ms between the four attempts.
		for i, want := range []time.Duration{100, 200, 400} {
			gap := at[i+1].Sub(at[i])
			if gap < want*time.Millisecond || gap > want*time.Millisecond+time.Second {
				t.Errorf("wait before attempt %d: %v, want about %dms", i+2, gap, want)
			}
		}
	})
}

// TestWebhookReceiverDownThenUp: connection refused is retried until the
// receiver listens.
func TestWebhookReceiverDownThenUp(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nobody listens: connection refused
		c := mustChannel(t, s, "down", alert.Webhook, map[string]any{"url": "http://" + addr + "/hook", "secret": "k"})
		d := pending(t, s, c, testEvent("r"))
		dispatch(t, s, nil)
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := s.AlertDelivery(context.Background(), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == store.DeliveryPending && got.Attempts >= 1 {
				if !strings.Contains(got.LastError, "connection refused") {
					t.Fatalf("last error %q", got.LastError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed attempt: %+v", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
		rc := &receiver{t: t, secret: "k"}
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("port %s taken meanwhile: %v", addr, err)
		}
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rc}}
		srv.Start()
		defer srv.Close()
		got := settled(t, s, store.DeliveryFilter{ChannelID: c.ID})[0]
		bodies, valid := rc.seen()
		if got.Status != store.DeliverySent || got.Attempts < 2 || len(bodies) != 1 || !valid[0] || bodies[0]["attempt"] != float64(got.Attempts) {
			t.Fatalf("delivery %+v, received %v", got, bodies)
		}
	})
}
