package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/tributary-data/tributary/store"
)

// Channel types.
const (
	Webhook = "webhook"
	Email   = "email"
)

// Types are the channel types.
var Types = []string{Webhook, Email}

// Defaults of channel settings.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 8
	maxTimeout         = 5 * time.Minute
	maxAttempts        = 20
)

// WebhookConfig is where and how a webhook channel posts.
type WebhookConfig struct {
	URL string `json:"url"`
	// Secret keys the HMAC-SHA256 signature of every body.
	Secret string `json:"secret"`
	// Headers are sent with every request (an Authorization header, say).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one attempt (Go duration, "10s" when empty).
	Timeout string `json:"timeout,omitempty"`
	// MaxAttempts bounds the attempts of one delivery (8 when zero).
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// TLS modes of an email channel.
const (
	// TLSAuto upgrades with STARTTLS when the server offers it.
	TLSAuto = "auto"
	// TLSStartTLS requires STARTTLS.
	TLSStartTLS = "starttls"
	// TLSImplicit connects with TLS from the start (port 465).
	TLSImplicit = "implicit"
	// TLSNone never encrypts.
	TLSNone = "none"
)

// EmailConfig is the SMTP server and the addresses of an email channel.
type EmailConfig struct {
	Host     string   `json:"host"`
	Port     int      `json:"port,omitempty"`
	Username string   `json:"username,omitempty"`
	Password string   `json:"password,omitempty"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	// TLS is auto (STARTTLS when offered, the default), starttls
	// (required), implicit or none.
	TLS string `json:"tls,omitempty"`
	// HTML adds an HTML part beside the plain text.
	HTML        bool   `json:"html,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
}

// Channel is a stored channel with its settings decoded and checked.
type Channel struct {
	ID      string
	Name    string
	Type    string
	Webhook *WebhookConfig
	Email   *EmailConfig
	timeout time.Duration
	max     int
}

// Timeout bounds one attempt.
func (c *Channel) Timeout() time.Duration { return c.timeout }

// MaxAttempts bounds the attempts of one delivery.
func (c *Channel) MaxAttempts() int { return c.max }

// FieldError is a problem with one setting; Path is relative to the
// channel's config ("to[1]").
type FieldError struct {
	Path string
	Msg  string
}

// FieldErrors are every problem found in a channel's config.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Path + ": " + f.Msg
		if f.Path == "" {
			parts[i] = f.Msg
		}
	}
	return strings.Join(parts, "; ")
}

// Secrets are the config fields of a channel type that are never shown.
func Secrets(typ string) []string {
	switch typ {
	case Webhook:
		return []string{"secret"}
	case Email:
		return []string{"password"}
	}
	return nil
}

// ParseChannel decodes and checks a stored channel. Errors are
// [FieldErrors] naming every problem.
func ParseChannel(c *store.AlertChannel) (*Channel, error) {
	ch := &Channel{ID: c.ID, Name: c.Name, Type: c.Type}
	raw, err := json.Marshal(c.Config)
	if err != nil {
		return nil, fmt.Errorf("channel %s config: %w", c.Name, err)
	}
	var errs FieldErrors
	decode := func(dst any) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			errs = append(errs, decodeError(err))
		}
	}
	timeout, attempts := "", 0
	switch c.Type {
	case Webhook:
		ch.Webhook = &WebhookConfig{}
		decode(ch.Webhook)
		if errs == nil {
			errs = checkWebhook(ch.Webhook)
		}
		timeout, attempts = ch.Webhook.Timeout, ch.Webhook.MaxAttempts
	case Email:
		ch.Email = &EmailConfig{}
		decode(ch.Email)
		if errs == nil {
			errs = checkEmail(ch.Email)
		}
		timeout, attempts = ch.Email.Timeout, ch.Email.MaxAttempts
	default:
		return nil, FieldErrors{{Path: "", Msg: fmt.Sprintf("unknown channel type %q (want webhook or email)", c.Type)}}
	}
	ch.timeout = DefaultTimeout
	if timeout != "" {
		d, err := time.ParseDuration(timeout)
		switch {
		case err != nil:
			errs = append(errs, FieldError{"timeout", fmt.Sprintf("not a duration such as 10s: %q", timeout)})
		case d <= 0 || d > maxTimeout:
			errs = append(errs, FieldError{"timeout", fmt.Sprintf("must be more than 0 and at most %s", maxTimeout)})
		default:
			ch.timeout = d
		}
	}
	ch.max = DefaultMaxAttempts
	switch {
	case attempts < 0 || attempts > maxAttempts:
		errs = append(errs, FieldError{"max_attempts", fmt.Sprintf("must be between 1 and %d", maxAttempts)})
	case attempts > 0:
		ch.max = attempts
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ch, nil
}

func decodeError(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return FieldError{te.Field, fmt.Sprintf("must be %s, not %s", te.Type, te.Value)}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return FieldError{strings.Trim(f, `"`), "unknown setting"}
	}
	return FieldError{"", msg}
}

// reservedHeaders are set by the sender and may not be replaced.
var reservedHeaders = []string{"content-type", "content-length", "host", "user-agent"}

func checkWebhook(w *WebhookConfig) FieldErrors {
	var errs FieldErrors
	u, err := url.Parse(w.URL)
	switch {
	case w.URL == "":
		errs = append(errs, FieldError{"url", "required"})
	case err != nil:
		errs = append(errs, FieldError{"url", "not a URL: " + err.Error()})
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, FieldError{"url", "must be an http or https URL"})
	case u.Host == "":
		errs = append(errs, FieldError{"url", "has no host"})
	}
	if w.Secret == "" {
		errs = append(errs, FieldError{"secret", "required: the key of the body's HMAC-SHA256 signature"})
	}
	for k := range w.Headers {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-tributary-") || containsFold(reservedHeaders, lk) {
			errs = append(errs, FieldError{"headers." + k, "set by Tributary; cannot be replaced"})
		}
	}
	return errs
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

func checkEmail(e *EmailConfig) FieldErrors {
	var errs FieldErrors
	if e.Host == "" {
		errs = append(errs, FieldError{"host", "required"})
	}
	if e.TLS == "" {
		e.TLS = TLSAuto
	}
	switch e.TLS {
	case TLSAuto, TLSStartTLS, TLSNone:
		if e.Port == 0 {
			e.Port = 587
		}
	case TLSImplicit:
		if e.Port == 0 {
			e.Port = 465
		}
	default:
		errs = append(errs, FieldError{"tls", fmt.Sprintf("must be auto, starttls, implicit or none, not %q", e.TLS)})
	}
	if e.Port < 0 || e.Port > 65535 {
		errs = append(errs, FieldError{"port", "must be between 1 and 65535"})
	}
	if e.Username != "" && e.Password == "" {
		errs = append(errs, FieldError{"password", "required with a username"})
	}
	if e.From == "" {
		errs = append(errs, FieldError{"from", "required"})
	} else if _, err := mail.ParseAddress(e.From); err != nil {
		errs = append(errs, FieldError{"from", "not an email address: " + err.Error()})
	}
	if len(e.To) == 0 {
		errs = append(errs, FieldError{"to", "at least one address is required"})
	}
	for i, to := range e.To {
		if _, err := mail.ParseAddress(to); err != nil {
			errs = append(errs, FieldError{fmt.Sprintf("to[%d]", i), "not an email address: " + err.Error()})
		}
	}
	return errs
}
