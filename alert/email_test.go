package alert_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tributary-data/tributary/alert"
	"github.com/tributary-data/tributary/store"
)

// mailbox is an SMTP server (go-smtp) that keeps what it receives.
type mailbox struct {
	addr     string
	user     string
	password string

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	data []byte
	tls  bool
	auth bool
}

type session struct {
	box  *mailbox
	conn *smtp.Conn
	msg  received
}

func (b *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{box: b, conn: c}, nil
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.box.user || pass != s.box.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid credentials"}
		}
		s.msg.auth = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.box.user != "" && !s.msg.auth {
		return smtp.ErrAuthRequired
	}
	s.msg.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.msg.tls = s.conn.TLSConnectionState()
	s.msg.data = b
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, s.msg)
	s.box.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = received{auth: s.msg.auth} }
func (s *session) Logout() error { return nil }

func (b *mailbox) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

// startMailbox serves SMTP on a free port; with cert it offers STARTTLS.
func startMailbox(t *testing.T, ip string, cert *tls.Certificate, user, password string) *mailbox {
	t.Helper()
	box := &mailbox{user: user, password: password}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	} else {
		srv.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	box.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box
}

// parts decodes a message into its subject and its bodies by content type.
func parts(t *testing.T, data []byte) (subject string, bodies map[string]string, h mail.Header) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	bodies = map[string]string{}
	ctype, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(r io.Reader, enc string) string {
		if enc == "quoted-printable" {
			r = quotedprintable.NewReader(r)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if ctype != "multipart/alternative" {
		bodies[ctype] = read(m.Body, m.Header.Get("Content-Transfer-Encoding"))
		return subject, bodies, m.Header
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		bodies[pt] = read(p, p.Header.Get("Content-Transfer-Encoding"))
	}
	return subject, bodies, m.Header
}

func TestEmailDelivery(t *testing.T) {
	cert, roots := selfSigned(t)
	tests := []struct {
		name     string
		cert     bool
		auth     bool
		settings map[string]any
		status   store.DeliveryStatus
		tls      bool
		errText  string
	}{
		{"starttls when offered, with auth", true, true, nil, store.DeliverySent, true, ""},
		{"plain server, no tls offered", false, false, nil, store.DeliverySent, false, ""},
		{"html part", false, false, map[string]any{"html": true}, store.DeliverySent, false, ""},
		{"starttls required but not offered", false, false, map[string]any{"tls": "starttls"}, store.DeliveryFailed, false, "does not offer STARTTLS"},
		{"wrong password", true, true, map[string]any{"password": "nope"}, store.DeliveryFailed, false, "authentication"},
		{"auth without tls to localhost", false, true, map[string]any{"tls": "none", "host": "localhost"}, store.DeliverySent, false, ""},
		{"password never sent unencrypted to another host", false, true, map[string]any{"tls": "none"}, store.DeliveryFailed, false, "unencrypted connection"},
	}
	eachStore(t, func(t *testing.T, s store.Store) {
		dispatch(t, s, &alert.Sender{TLSConfig: &tls.Config{RootCAs: roots}})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var c *tls.Certificate
				if tt.cert {
					c = &cert
				}
				user, pass := "", ""
				if tt.auth {
					user, pass = "alerts", "mail-password"
				}
				ip := "127.0.0.1"
				if strings.Contains(tt.name, "another host") {
					ip = "127.0.0.2" // not a name net/smtp takes for this host
				}
				box := startMailbox(t, ip, c, user, pass)
				host, port, _ := net.SplitHostPort(box.addr)
				cfg := map[string]any{"host": host, "port": port, "from": "Tributary <tributary@example.com>",
					"to": []any{"ops@example.com", "Data Team <data@example.com>"}}
				if tt.auth {
					cfg["username"], cfg["password"] = user, pass
				}
				for k, v := range tt.settings {
					cfg[k] = v
				}
				ch := mustChannel(t, s, "mail "+tt.name, alert.Email, fixPort(cfg))
				e := testEvent("run-" + strings.ReplaceAll(tt.name, " ", "-"))
				e.Summary = "Pipeline orders failed: boom ü"
				pending(t, s, ch, e)
				got := settled(t, s, store.DeliveryFilter{ChannelID: ch.ID})[0]
				if got.Status != tt.status || !strings.Contains(got.LastError, tt.errText) {
					t.Fatalf("delivery %s %q, want %s %q", got.Status, got.LastError, tt.status, tt.errText)
				}
				msgs := box.messages()
				if tt.status == store.DeliveryFailed {
					if len(msgs) != 0 || got.Attempts != 1 {
						t.Fatalf("failed delivery: %d messages, %d attempts", len(msgs), got.Attempts)
					}
					return
				}
				if len(msgs) != 1 {
					t.Fatalf("%d messages received", len(msgs))
				}
				m := msgs[0]
				if m.tls != tt.tls || m.auth != tt.auth || m.from != "tributary@example.com" ||
					strings.Join(m.to, ",") != "ops@example.com,data@example.com" {
					t.Errorf("envelope %+v", m)
				}
				subject, bodies, h := parts(t, m.data)
				if subject != "[Tributary] Pipeline orders failed" {
					t.Errorf("subject %q", subject)
				}
				if h.Get("X-Tributary-Delivery") != got.ID || h.Get("Message-Id") == "" {
					t.Errorf("headers %v", h)
				}
				text := bodies["text/plain"]
				for _, want := range []string{"Pipeline orders failed: boom ü", "Run:", e.Run.ID, "Error:       boom",
					"read 5, written 4, quarantined 1", e.Link} {
					if !strings.Contains(text, want) {
						t.Errorf("text body lacks %q:\n%s", want, text)
					}
				}
				html, hasHTML := bodies["text/html"]
				if hasHTML != (tt.settings["html"] == true) {
					t.Errorf("html part present: %v", hasHTML)
				}
				if hasHTML && !strings.Contains(html, `<a href="`+e.Link+`">`) {
					t.Errorf("html body:\n%s", html)
				}
			})
		}
	})
}

// fixPort turns the port string into a number, as JSON would carry it.
func fixPort(cfg map[string]any) map[string]any {
	if p, ok := cfg["port"].(string); ok {
		n := 0
		for _, r := range p {
			n = n*10 + int(r-'0')
		}
		cfg["port"] = float64(n)
	}
	return cfg
}
