package alert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/store"
	"github.com/tributary-data/tributary/store/storetest"
)

// eachStore runs f against a fresh SQLite and a fresh PostgreSQL store.
func eachStore(t *testing.T, f func(t *testing.T, s store.Store)) { storetest.Each(t, f) }

// dispatch runs a dispatcher with short waits until the test ends.
func dispatch(t *testing.T, s store.Store, sender *alert.Sender) *alert.Dispatcher {
	t.Helper()
	d := &alert.Dispatcher{Store: s, Sender: sender, Poll: 20 * time.Millisecond, Backoff: 30 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// settled waits until every delivery is sent or failed and returns them,
// newest first.
func settled(t *testing.T, s store.Store, f store.DeliveryFilter) []store.AlertDelivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := s.AlertDeliveries(context.Background(), f, store.Page{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for _, d := range ds {
			if d.Status != store.DeliverySent && d.Status != store.DeliveryFailed {
				done = false
			}
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not settled: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustChannel(t *testing.T, s store.Store, name, typ string, cfg map[string]any) *store.AlertChannel {
	t.Helper()
	c := &store.AlertChannel{Name: name, Type: typ, Config: cfg}
	if _, err := alert.ParseChannel(c); err != nil {
		t.Fatalf("channel %s: %v", name, err)
	}
	if err := s.CreateAlertChannel(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// testEvent is a run_failed event of a made-up pipeline.
func testEvent(runID string) alert.Event {
	return alert.Event{
		Kind: alert.RunFailed, Summary: "Pipeline orders failed: boom", Time: time.Now().UTC(),
		Pipeline: &alert.PipelineRef{ID: "p1", Name: "orders"},
		Run:      &alert.RunInfo{ID: runID, Status: "failed", Error: "boom", Streams: []alert.StreamCounts{{Name: "orders", Read: 5, Written: 4, Quarantined: 1}}},
		Counts:   &alert.Counts{Read: 5, Written: 4, Quarantined: 1},
		Link:     "http://tributary.test/api/v1/runs/" + runID,
	}
}

// pending records one delivery of e to the channel.
func pending(t *testing.T, s store.Store, c *store.AlertChannel, e alert.Event) *store.AlertDelivery {
	t.Helper()
	payload, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	d := &store.AlertDelivery{RuleID: "r1", RuleName: "rule", ChannelID: c.ID, ChannelName: c.Name, Event: e.Kind, Payload: payload, RunID: e.Run.ID}
	if n, err := s.AddAlertDeliveries(context.Background(), []*store.AlertDelivery{d}); err != nil || n != 1 {
		t.Fatalf("add delivery: %d, %v", n, err)
	}
	return d
}

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
