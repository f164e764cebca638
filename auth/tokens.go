package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefixes of opaque tokens say what a token is when it turns up in a log
// or a secret scanner.
const (
	PrefixAPIToken = "trb_"
	PrefixRefresh  = "trr_"
	PrefixOneTime  = "tro_"
)

// NewToken returns a random token (256 bits) with the prefix, and the hash
// to store. Tokens are random enough that a plain SHA-256 is the right
// hash: there is nothing to guess.
func NewToken(prefix string) (token, hash string) {
	b := make([]byte, 32)
	// crypto/rand.Read never fails on supported platforms.
	_, _ = rand.Read(b)
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of an opaque token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IsAPIToken reports whether a bearer credential is an API token rather
// than a JWT.
func IsAPIToken(s string) bool { return strings.HasPrefix(s, PrefixAPIToken) }
