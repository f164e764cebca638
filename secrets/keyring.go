package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyEnv holds the key (or keys, comma-separated, current first) as
// base64 or hex of 32 bytes.
const KeyEnv = "TRIBUTARY_SECRET_KEY"

// KeyFile is the generated key file's name in the data directory.
const KeyFile = "secret.key"

// prefix marks an encrypted value: enc:v1:KEYID:BASE64(nonce|ciphertext).
const prefix = "enc:v1:"

// Keyring holds the current key, which encrypts, and older ones, which
// still decrypt until a rotation re-encrypts everything.
type Keyring struct {
	ids  []string // current first
	keys map[string]cipher.AEAD
	raw  map[string][]byte
	// path is the key file, empty when the keys came from the environment.
	path string
}

// keyID names a key without revealing it.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("tributary key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("a key must be 32 bytes written as base64 or hex")
}

// NewKeyring builds a keyring of raw 32-byte keys, current first.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no secret key")
	}
	kr := &Keyring{keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("secret key %d has %d bytes, want 32", i+1, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := keyID(k)
		if _, dup := kr.keys[id]; !dup {
			kr.ids = append(kr.ids, id)
			kr.keys[id] = gcm
			kr.raw[id] = k
		}
	}
	return kr, nil
}

// ErrNoSharedKey says a store several hosts share has no key they share.
var ErrNoSharedKey = errors.New("a PostgreSQL store is shared by every host that opens it, so they need one key: set " + KeyEnv + " (32 random bytes in base64, e.g. openssl rand -base64 32) on each")

// LoadShared reads the keys of a store several hosts may share: from
// TRIBUTARY_SECRET_KEY or an existing key file in dataDir, never a key
// generated here, which other hosts would not have.
func LoadShared(dataDir string) (*Keyring, error) {
	if os.Getenv(KeyEnv) == "" {
		if _, err := os.Stat(filepath.Join(dataDir, KeyFile)); errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoSharedKey
		}
	}
	return Load(dataDir)
}

// Load reads the keys from TRIBUTARY_SECRET_KEY, or else from the key
// file in dataDir, generating it (mode 0600) on first use.
func Load(dataDir string) (*Keyring, error) {
	if env := os.Getenv(KeyEnv); env != "" {
		var keys [][]byte
		for i, part := range strings.Split(env, ",") {
			k, err := parseKey(part)
			if err != nil {
				return nil, fmt.Errorf("%s key %d: %w", KeyEnv, i+1, err)
			}
			keys = append(keys, k)
		}
		return NewKeyring(keys...)
	}
	path := filepath.Join(dataDir, KeyFile)
	keys, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("generate secret key: %w", err)
		}
		if err := writeKeyFile(path, [][]byte{k}); err != nil {
			return nil, err
		}
		keys = [][]byte{k}
	} else if err != nil {
		return nil, err
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	kr.path = path
	return kr, nil
}

func readKeyFile(path string) ([][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %v lets others read the secret key; chmod 600 it", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// writeKeyFile replaces the key file atomically, keys current first.
func writeKeyFile(path string, keys [][]byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secret key directory: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Tributary secret keys, current first. Losing this file loses every stored secret.\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
	if err != nil {
		return fmt.Errorf("write secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CurrentID is the id of the key that encrypts.
func (k *Keyring) CurrentID() string { return k.ids[0] }

// IsEncrypted reports whether v is a value this package encrypted.
func IsEncrypted(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, prefix)
}

// Encrypt seals the JSON form of v under the current key; field is bound
// as additional data, so a ciphertext cannot be moved to another field.
func (k *Keyring) Encrypt(field string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encrypt %s: %w", field, err)
	}
	id := k.ids[0]
	gcm := k.keys[id]
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("encrypt %s: %w", field, err)
	}
	sealed := gcm.Seal(nonce, nonce, plain, []byte(field))
	return prefix + id + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a value made by Encrypt. Errors never hold the value.
func (k *Keyring) Decrypt(field, s string) (any, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("decrypt %s: not an encrypted value", field)
	}
	id, data, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, fmt.Errorf("decrypt %s: malformed encrypted value", field)
	}
	gcm, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("decrypt %s: encrypted under key %s, which is not configured (%s or the key file)", field, id, KeyEnv)
	}
	sealed, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil || len(sealed) < gcm.NonceSize() {
		return nil, fmt.Errorf("decrypt %s: malformed encrypted value", field)
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(field))
	if err != nil {
		return nil, fmt.Errorf("decrypt %s under key %s: authentication failed", field, id)
	}
	var v any
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", field, err)
	}
	return v, nil
}

// Rotate generates a new current key and keeps the old ones for reading.
// With keys from the key file, the file is rewritten; with keys from the
// environment it returns an error: set the new key first in
// TRIBUTARY_SECRET_KEY, followed by the old ones.
func (k *Keyring) Rotate() error {
	if k.path == "" {
		return fmt.Errorf("keys come from %s: put a new key first in it (new,old) and run rotate-key again", KeyEnv)
	}
	keys, err := readKeyFile(k.path)
	if err != nil {
		return err
	}
	nk := make([]byte, 32)
	if _, err := rand.Read(nk); err != nil {
		return err
	}
	keys = append([][]byte{nk}, keys...)
	if err := writeKeyFile(k.path, keys); err != nil {
		return err
	}
	fresh, err := NewKeyring(keys...)
	if err != nil {
		return err
	}
	k.ids, k.keys, k.raw = fresh.ids, fresh.keys, fresh.raw
	return nil
}

// DropOld forgets every key but the current one (after a rotation
// re-encrypted everything), rewriting the key file.
func (k *Keyring) DropOld() error {
	if k.path == "" {
		k.ids = k.ids[:1]
		return nil
	}
	keys, err := readKeyFile(k.path)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if keyID(key) == k.ids[0] {
			if err := writeKeyFile(k.path, [][]byte{key}); err != nil {
				return err
			}
			k.ids = k.ids[:1]
			return nil
		}
	}
	return errors.New("current key missing from the key file")
}

// Derive returns a 32-byte key for purpose, derived from the current key
// (HMAC-SHA256), so other keys need no management of their own. It
// changes when the key is rotated.
func (k *Keyring) Derive(purpose string) []byte {
	mac := hmac.New(sha256.New, k.raw[k.ids[0]])
	mac.Write([]byte("tributary derived key\x00" + purpose))
	return mac.Sum(nil)
}
