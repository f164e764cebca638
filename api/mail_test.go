package api_test

import (
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tributary-data/tributary/api"
	"github.com/tributary-data/tributary/auth"
)

// inbox is a real SMTP server (go-smtp) keeping what it receives.
type inbox struct {
	mu   sync.Mutex
	msgs []inMail
}

type inMail struct {
	to   string
	data []byte
}

type inSession struct {
	box *inbox
	to  string
}

func (b *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inSession{box: b}, nil }
func (s *inSession) AuthMechanisms() []string                { return []string{sasl.Plain} }
func (s *inSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error { return nil }), nil
}
func (s *inSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *inSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, inMail{to: s.to, data: b})
	s.box.mu.Unlock()
	return nil
}
func (s *inSession) Reset()        {}
func (s *inSession) Logout() error { return nil }

func startInbox(t *testing.T) (*inbox, string) {
	t.Helper()
	box := &inbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box, ln.Addr().String()
}

var linkToken = regexp.MustCompile(`https://tributary\.example\.com/[a-z-]+\?token=(tro_[A-Za-z0-9_-]+)`)

// lastLink waits for the n-th mail and returns its recipient, subject and
// the token of its link.
func (b *inbox) lastLink(t *testing.T, n int) (string, string, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.msgs)
		b.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.mu.Lock()
	m := b.msgs[n-1]
	b.mu.Unlock()
	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	match := linkToken.FindStringSubmatch(string(body))
	if match == nil {
		t.Fatalf("no link in the mail: %s", body)
	}
	return m.to, msg.Header.Get("Subject"), match[1]
}

// TestPasswordResetAndVerificationByMail: the reset and verification
// links travel through a real SMTP server; following them sets the
// password (ending sessions) and verifies the address, once each.
func TestPasswordResetAndVerificationByMail(t *testing.T) {
	box, addr := startInbox(t)
	e := startAuth(t, "sqlite", api.AuthConfig{
		Mailer:  &auth.SMTPMailer{Addr: addr, From: "tributary@example.com", Username: "u", Password: "p"},
		BaseURL: "https://tributary.example.com",
	})
	old := e.login("viewer@example.com", testPassword).body["access_token"].(string)

	// Unknown addresses answer the same, and get no mail.
	if a := e.call("POST", "/api/v1/auth/password-reset", "", map[string]any{"email": "nobody@example.com"}); a.status != 202 {
		t.Fatalf("reset of an unknown address: %d %s", a.status, a.raw)
	}
	if a := e.call("POST", "/api/v1/auth/password-reset", "", map[string]any{"email": "viewer@example.com"}); a.status != 202 {
		t.Fatalf("reset request: %d %s", a.status, a.raw)
	}
	to, subject, token := box.lastLink(t, 1)
	box.mu.Lock()
	if len(box.msgs) != 1 {
		t.Fatalf("%d mails, want only the known address's", len(box.msgs))
	}
	box.mu.Unlock()
	if to != "viewer@example.com" || !strings.Contains(subject, "Reset") {
		t.Fatalf("mail to %s: %s", to, subject)
	}
	if a := e.call("POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": "weak"}); a.status != 422 {
		t.Fatalf("weak new password: %d %s", a.status, a.raw)
	}
	const newPassword = "Brand-new-Pass-42"
	if a := e.call("POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": newPassword}); a.status != 204 {
		t.Fatalf("reset: %d %s", a.status, a.raw)
	}
	if a := e.call("GET", "/api/v1/me", old, nil); a.status != 401 {
		t.Fatalf("session after reset: %d", a.status)
	}
	if a := e.call("POST", "/api/v1/auth/password-reset/confirm", "", map[string]any{"token": token, "password": "An0ther-Pass-99"}); a.status != 400 {
		t.Fatalf("second use of a reset token: %d %s", a.status, a.raw)
	}
	if a := e.login("viewer@example.com", testPassword); a.status != 401 {
		t.Fatalf("old password after reset: %d", a.status)
	}
	fresh := e.login("viewer@example.com", newPassword)
	if fresh.status != 200 {
		t.Fatalf("new password: %d %s", fresh.status, fresh.raw)
	}

	editor := e.login("editor@example.com", testPassword).body["access_token"].(string)
	if a := e.call("POST", "/api/v1/auth/verify-email/send", editor, nil); a.status != 202 {
		t.Fatalf("send verification: %d %s", a.status, a.raw)
	}
	to, _, token = box.lastLink(t, 2)
	if to != "editor@example.com" {
		t.Fatalf("verification to %s", to)
	}
	if a := e.call("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": token}); a.status != 204 {
		t.Fatalf("verify: %d %s", a.status, a.raw)
	}
	if me := e.call("GET", "/api/v1/me", editor, nil); me.body["email_verified"] != true {
		t.Fatalf("after verification: %s", me.raw)
	}
	if a := e.call("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": token}); a.status != 400 {
		t.Fatalf("second verification: %d", a.status)
	}
	// A reset token does not verify, nor the other way round.
	if a := e.call("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": "tro_" + strings.Repeat("A", 43)}); a.status != 400 {
		t.Fatalf("unknown verification token: %d", a.status)
	}
}
