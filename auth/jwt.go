package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessTTL is the life of an access token.
const AccessTTL = 15 * time.Minute

const issuer = "tributary"

// Claims are what an access token says: the user (subject), the session
// and the role at issue time.
type Claims struct {
	Session string `json:"sid"`
	Role    string `json:"role"`
	jwt.RegisteredClaims
}

// Signer issues and verifies access tokens with HMAC-SHA256 under one key.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a signer; the key must have at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("access token key has %d bytes, want at least 32", len(key))
	}
	return &Signer{key: key, ttl: AccessTTL, now: time.Now}, nil
}

// Issue returns a signed access token and its life in seconds.
func (s *Signer) Issue(userID, sessionID, role string) (string, int, error) {
	now := s.now()
	c := Claims{Session: sessionID, Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: userID,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", 0, fmt.Errorf("sign access token: %w", err)
	}
	return tok, int(s.ttl / time.Second), nil
}

// ErrInvalidToken covers every token that must be refused: malformed,
// signed with another key or algorithm (alg none included), expired.
var ErrInvalidToken = errors.New("invalid access token")

// Parse verifies the token and returns its claims.
func (s *Signer) Parse(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.Session == "" {
		return nil, fmt.Errorf("%w: no subject or session", ErrInvalidToken)
	}
	return &c, nil
}
