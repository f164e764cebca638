package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Notification is the body a channel sends: the event with the delivery
// it belongs to. SentAt is part of the signed body, so a receiver can
// refuse old bodies replayed by someone else.
type Notification struct {
	DeliveryID string    `json:"delivery_id"`
	Attempt    int       `json:"attempt"`
	SentAt     time.Time `json:"sent_at"`
	Event
}

// Sender makes one attempt to send a notification through a channel.
type Sender struct {
	// HTTPClient posts webhooks; a client that follows no redirects when
	// nil (a redirected POST would lose its body).
	HTTPClient *http.Client
	// TLSConfig is the base of SMTP TLS settings (trusted roots, say); the
	// server name is set per channel.
	TLSConfig *tls.Config
	// Hostname is the name this host gives in SMTP's EHLO; "localhost"
	// when empty.
	Hostname string
}

// PermanentError is a failure that another attempt would not change: a
// 4xx answer, a refused address, a bad setting.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

func permanent(err error) error { return &PermanentError{Err: err} }

// Retryable reports whether another attempt may succeed.
func Retryable(err error) bool {
	var p *PermanentError
	return err != nil && !errors.As(err, &p)
}

// Send makes one attempt within the channel's timeout.
func (s *Sender) Send(ctx context.Context, ch *Channel, n *Notification) error {
	ctx, cancel := context.WithTimeout(ctx, ch.Timeout())
	defer cancel()
	switch {
	case ch.Webhook != nil:
		return s.postWebhook(ctx, ch.Webhook, n)
	case ch.Email != nil:
		return s.sendEmail(ctx, ch.Email, n)
	}
	return permanent(fmt.Errorf("channel %s has no settings", ch.Name))
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (s *Sender) httpClient() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return noRedirects
}
