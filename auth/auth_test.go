package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tributary-data/tributary/auth"
)

func TestPasswordHashing(t *testing.T) {
	h, err := auth.HashPassword("S3cure-enough!")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %s: not argon2id with the OWASP parameters", h)
	}
	h2, _ := auth.HashPassword("S3cure-enough!")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if err := auth.VerifyPassword(h, "S3cure-enough!"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for _, bad := range []string{"S3cure-enough", "", "s3cure-enough!"} {
		if err := auth.VerifyPassword(h, bad); err != auth.ErrWrongPassword {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, broken := range []string{"", "plain", "$2a$12$abc", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=19456,t=2,p=1$!!$!!"} {
		if err := auth.VerifyPassword(broken, "x"); err == nil || err == auth.ErrWrongPassword {
			t.Errorf("hash %q: %v", broken, err)
		}
	}
}

func TestPasswordStrength(t *testing.T) {
	for _, c := range []struct {
		password, email, want string
	}{
		{"S3cure-enough!", "admin@example.com", ""},
		{"short1A!", "", "at least 12 characters"},
		{"alllowercaseletters", "", "at least three"},
		{"ALLUPPER-and-lower", "", ""},
		{"Ann.Smith-2024!", "ann.smith@example.com", "e-mail address"},
		{strings.Repeat("Ab1", 100), "", "at most 256"},
	} {
		err := auth.CheckPasswordStrength(c.password, c.email)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.password, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want %q", c.password, err, c.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := auth.NewLimiter(3, time.Minute, 5*time.Minute)
	l.Now = func() time.Time { return now }
	l.Fail("a")
	l.Fail("a")
	if locked, _ := l.Locked("a"); locked {
		t.Fatal("locked after 2 of 3")
	}
	// Failures older than the window do not count.
	now = now.Add(2 * time.Minute)
	l.Fail("a")
	if locked, _ := l.Locked("a"); locked {
		t.Fatal("old failures counted")
	}
	l.Fail("a")
	l.Fail("a")
	locked, until := l.Locked("a")
	if !locked || !until.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("after 3 in the window: %v %v", locked, until)
	}
	if locked, _ := l.Locked("b"); locked {
		t.Fatal("another key locked")
	}
	now = now.Add(5 * time.Minute)
	if locked, _ := l.Locked("a"); locked {
		t.Fatal("still locked after the lockout")
	}
	l.Fail("a")
	l.Reset("a")
	l.Fail("a")
	l.Fail("a")
	if locked, _ := l.Locked("a"); locked {
		t.Fatal("reset did not forget")
	}
}

func TestSignerRejects(t *testing.T) {
	if _, err := auth.NewSigner([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	s, _ := auth.NewSigner([]byte(strings.Repeat("k", 32)))
	other, _ := auth.NewSigner([]byte(strings.Repeat("o", 32)))
	tok, ttl, err := s.Issue("user", "session", "admin")
	if err != nil || ttl != 900 {
		t.Fatalf("issue: %v %d", err, ttl)
	}
	c, err := s.Parse(tok)
	if err != nil || c.Subject != "user" || c.Session != "session" || c.Role != "admin" {
		t.Fatalf("parse: %+v %v", c, err)
	}
	if _, err := other.Parse(tok); err == nil {
		t.Fatal("token of another key accepted")
	}
}

// FuzzParseToken: no input makes the parser panic or accept a token it
// did not sign.
func FuzzParseToken(f *testing.F) {
	s, _ := auth.NewSigner([]byte(strings.Repeat("k", 32)))
	good, _, _ := s.Issue("user", "session", "viewer")
	for _, seed := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", good + "x", strings.Repeat(".", 100)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Parse(in)
		if err == nil && in != good {
			// Only a token this signer made verifies; the fuzzer cannot
			// forge HMAC, so anything accepted must decode to our claims.
			if c.Subject != "user" || c.Session != "session" {
				t.Fatalf("accepted %q as %+v", in, c)
			}
		}
	})
}
