package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Subject is the subject line of an event's email.
func Subject(e *Event) string {
	name := ""
	if e.Pipeline != nil {
		name = e.Pipeline.Name
	}
	switch e.Kind {
	case RunFailed:
		return fmt.Sprintf("[Tributary] Pipeline %s failed", name)
	case RunRecovered:
		return fmt.Sprintf("[Tributary] Pipeline %s recovered", name)
	case CheckFailed:
		return fmt.Sprintf("[Tributary] Check failed in pipeline %s", name)
	case AnomalyDetected:
		return fmt.Sprintf("[Tributary] Anomaly in pipeline %s", name)
	case PipelineLate:
		return fmt.Sprintf("[Tributary] Pipeline %s is late", name)
	case Test:
		return "[Tributary] Test notification"
	}
	return "[Tributary] " + e.Summary
}

// Text is the plain text body of an event's email.
func Text(e *Event) string {
	var b strings.Builder
	b.WriteString(e.Summary + "\n\n")
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-12s %s\n", k+":", v)
		}
	}
	line("Event", e.Kind)
	line("Time", e.Time.UTC().Format(time.RFC3339))
	if e.Pipeline != nil {
		line("Pipeline", e.Pipeline.Name+" ("+e.Pipeline.ID+")")
	}
	if e.Slot != nil {
		line("Slot", e.Slot.UTC().Format(time.RFC3339))
	}
	if r := e.Run; r != nil {
		line("Run", r.ID)
		line("Status", r.Status)
		line("Trigger", r.Trigger)
		line("Error", r.Error)
	}
	if c := e.Counts; c != nil {
		line("Rows", fmt.Sprintf("read %d, written %d, quarantined %d, filtered %d, deduplicated %d",
			c.Read, c.Written, c.Quarantined, c.Filtered, c.Deduplicated))
	}
	if len(e.Checks) > 0 {
		b.WriteString("\nFailed checks:\n")
		for _, c := range e.Checks {
			fmt.Fprintf(&b, "  - %s: %s (%s, observed %v)", c.Stream, c.CheckResult.Check, c.Severity, c.Observed)
			if c.Message != "" {
				b.WriteString(": " + c.Message)
			}
			b.WriteString("\n")
		}
	}
	if len(e.Anomalies) > 0 {
		b.WriteString("\nAnomalies:\n")
		for _, a := range e.Anomalies {
			b.WriteString("  - ")
			if a.Stream != "" {
				b.WriteString(a.Stream + ": ")
			}
			fmt.Fprintf(&b, "%s %s: %g against a median of %g (score %g)", a.Metric, a.Direction, a.Value, a.Median, a.Score)
			if a.Message != "" {
				b.WriteString(": " + a.Message)
			}
			b.WriteString("\n")
		}
	}
	if e.Link != "" {
		b.WriteString("\n" + e.Link + "\n")
	}
	return b.String()
}

var htmlBody = template.Must(template.New("email").Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<p><strong>{{.Summary}}</strong></p>
<pre style="font-size: 13px">{{.Text}}</pre>
{{if .Link}}<p><a href="{{.Link}}">Open in Tributary</a></p>{{end}}
</body></html>
`))

// message is the RFC 5322 message of a notification.
func message(cfg *EmailConfig, n *Notification) ([]byte, error) {
	var b bytes.Buffer
	h := textproto.MIMEHeader{}
	// Addresses are written as parsed, so names are encoded and nothing
	// but an address reaches the header.
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to := make([]string, len(cfg.To))
	for i, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("to[%d]: %w", i, err)
		}
		to[i] = a.String()
	}
	h.Set("From", from.String())
	h.Set("To", strings.Join(to, ", "))
	h.Set("Subject", mime.QEncoding.Encode("utf-8", Subject(&n.Event)))
	h.Set("Date", n.SentAt.Format(time.RFC1123Z))
	h.Set("Message-ID", messageID(cfg.From))
	h.Set("MIME-Version", "1.0")
	h.Set("X-Tributary-Event", n.Kind)
	h.Set("X-Tributary-Delivery", n.DeliveryID)
	text := Text(&n.Event)
	if !cfg.HTML {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		writeHeader(&b, h)
		if err := writeQP(&b, text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	h.Set("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	writeHeader(&b, h)
	var html bytes.Buffer
	if err := htmlBody.Execute(&html, map[string]string{"Summary": n.Summary, "Text": text, "Link": n.Link}); err != nil {
		return nil, err
	}
	for _, p := range []struct{ ctype, body string }{{"text/plain", text}, {"text/html", html.String()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.Write(parts.Bytes())
	return b.Bytes(), nil
}

func writeHeader(b *bytes.Buffer, h textproto.MIMEHeader) {
	for _, k := range []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "X-Tributary-Event", "X-Tributary-Delivery"} {
		if v := h.Get(k); v != "" {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(strings.ReplaceAll(s, "\n", "\r\n"))); err != nil {
		return err
	}
	return qp.Close()
}

func messageID(from string) string {
	domain := "tributary.local"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
			domain = a.Address[i+1:]
		}
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}

func (s *Sender) sendEmail(ctx context.Context, cfg *EmailConfig, n *Notification) error {
	msg, err := message(cfg, n)
	if err != nil {
		return permanent(fmt.Errorf("compose email: %w", err))
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return permanent(fmt.Errorf("from: %w", err))
	}
	to := make([]string, len(cfg.To))
	for i, t := range cfg.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return permanent(fmt.Errorf("to[%d]: %w", i, err))
		}
		to[i] = a.Address
	}
	tlsCfg := &tls.Config{}
	if s.TLSConfig != nil {
		tlsCfg = s.TLSConfig.Clone()
	}
	tlsCfg.ServerName = cfg.Host
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	var conn net.Conn
	if cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	// net/smtp knows no contexts: the deadline and a cancellation close
	// the connection under it.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err = s.smtpSession(conn, cfg, tlsCfg, from.Address, to, msg)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("smtp %s: %w (%w)", addr, ctx.Err(), err)
	}
	return err
}

func (s *Sender) smtpSession(conn net.Conn, cfg *EmailConfig, tlsCfg *tls.Config, from string, to []string, msg []byte) error {
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		conn.Close()
		return smtpError("greeting", err)
	}
	defer c.Close()
	hostname := s.Hostname
	if hostname == "" {
		hostname = "localhost"
	}
	if err := c.Hello(hostname); err != nil {
		return smtpError("EHLO", err)
	}
	if cfg.TLS == TLSAuto || cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return smtpError("STARTTLS", err)
			}
		} else if cfg.TLS == TLSStartTLS {
			return permanent(fmt.Errorf("SMTP server %s does not offer STARTTLS (tls: starttls requires it)", cfg.Host))
		}
	}
	if cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent(fmt.Errorf("SMTP server %s offers no authentication, yet a username is set", cfg.Host))
		}
		// PlainAuth refuses to send the password over an unencrypted
		// connection to another host.
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, cfg.Host)); err != nil {
			return smtpError("authentication", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return smtpError("MAIL FROM", err)
	}
	for _, t := range to {
		if err := c.Rcpt(t); err != nil {
			return smtpError("RCPT TO "+t, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("DATA", err)
	}
	if err := c.Quit(); err != nil {
		return smtpError("QUIT", err)
	}
	return nil
}

// smtpError keeps transient failures (4xx replies, the network) retryable
// and makes 5xx replies and refused authentication permanent.
func smtpError(step string, err error) error {
	err = fmt.Errorf("smtp %s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code >= 500 {
			return permanent(err)
		}
		return err
	}
	if strings.Contains(err.Error(), "unencrypted connection") {
		return permanent(err)
	}
	return err
}
