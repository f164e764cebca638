package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Webhook headers. The signature is "sha256=" and the hex HMAC-SHA256 of
// the raw body under the channel's secret; the timestamp (Unix seconds)
// repeats the body's sent_at.
const (
	SignatureHeader = "X-Tributary-Signature"
	TimestampHeader = "X-Tributary-Timestamp"
	EventHeader     = "X-Tributary-Event"
	DeliveryHeader  = "X-Tributary-Delivery"
)

// Sign is the signature header value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's signature under secret, in
// constant time; for receivers written in Go.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

func (s *Sender) postWebhook(ctx context.Context, w *WebhookConfig, n *Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return permanent(fmt.Errorf("encode notification: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("webhook request: %w", err))
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tributary-Alerts")
	req.Header.Set(EventHeader, n.Kind)
	req.Header.Set(DeliveryHeader, n.DeliveryID)
	req.Header.Set(TimestampHeader, strconv.FormatInt(n.SentAt.Unix(), 10))
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	resp, err := s.httpClient().Do(req)
	if err != nil {
		// Network errors and timeouts: the receiver may be back soon.
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("webhook answered %s", resp.Status)
	if t := strings.TrimSpace(string(snippet)); t != "" {
		err = fmt.Errorf("webhook answered %s: %s", resp.Status, t)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return permanent(fmt.Errorf("%w (redirected to %q; use the final URL)", err, resp.Header.Get("Location")))
	}
	return permanent(err)
}
