package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPMailer sends the plain-text mails of password resets and address
// verification. It upgrades to TLS with STARTTLS when the server offers
// it, or speaks TLS from the start with ImplicitTLS; a server on another
// host should offer one of them, since the mails carry reset links.
type SMTPMailer struct {
	// Addr is host:port of the SMTP server.
	Addr     string
	Username string
	Password string
	From     string
	// ImplicitTLS connects with TLS at once (port 465).
	ImplicitTLS bool
}

// SendMail sends one mail; errors name the step, never the password.
func (m *SMTPMailer) SendMail(ctx context.Context, to, subject, body string) error {
	if strings.ContainsAny(to, "\r\n") || strings.ContainsAny(subject, "\r\n") {
		return fmt.Errorf("mail to %q: line breaks in a header", to)
	}
	var b bytes.Buffer
	host, _, _ := net.SplitHostPort(m.Addr)
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
		m.From, to, mime.QEncoding.Encode("utf-8", subject), time.Now().Format(time.RFC1123Z), hex.EncodeToString(id), host)
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	var auth sasl.Client
	if m.Username != "" {
		auth = sasl.NewPlainClient("", m.Username, m.Password)
	}
	send := func(addr string, a sasl.Client, from string, to []string, r *bytes.Buffer) error {
		var c *smtp.Client
		var err error
		if m.ImplicitTLS {
			c, err = smtp.DialTLS(addr, &tls.Config{ServerName: host})
		} else {
			c, err = smtp.Dial(addr)
		}
		if err != nil {
			return err
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); ok && !m.ImplicitTLS {
			// The client upgrades only while dialling: dial again.
			c.Close()
			if c, err = smtp.DialStartTLS(addr, &tls.Config{ServerName: host}); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
			defer c.Close()
		}
		if a != nil {
			if err := c.Auth(a); err != nil {
				return fmt.Errorf("auth: %w", err)
			}
		}
		if err := c.SendMail(from, to, r); err != nil {
			return err
		}
		return c.Quit()
	}
	done := make(chan error, 1)
	go func() { done <- send(m.Addr, auth, m.From, []string{to}, &b) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("send mail through %s: %w", m.Addr, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("send mail through %s: %w", m.Addr, ctx.Err())
	}
}
