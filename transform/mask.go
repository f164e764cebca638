package transform

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tributary-data/tributary/connector"
)

var (
	_ Step     = (*mask)(nil)
	_ Lineager = (*mask)(nil)
)

func init() { Register("mask", newMask) }

// mask hides sensitive values: hashing (joinable, not reversible),
// redaction, partial masking, reversible tokens and nulling. Secrets come
// from environment variables named in the settings, read when the step is
// built, so they never sit in a pipeline file.
type mask struct {
	fields []string
	ms     []masker
	cache  schemaCache[*maskPlan]
}

type maskPlan struct {
	out  *connector.Schema
	cols []int
}

// masker hides one value. Each field has its own, holding reused hashers
// and buffers; steps run on one goroutine at a time.
type masker interface {
	mask(v any) any
	keepsType() bool
}

var maskMethods = []string{"hash", "redact", "partial", "tokenize", "null"}

func newMask(args any) (Step, error) {
	m, ok := args.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errorf("", "expected a map of field: {method: ...}")
	}
	s := &mask{}
	var errs Errors
	fields := make([]string, 0, len(m))
	for f := range m {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		mk, err := newMasker(m[f], f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.fields = append(s.fields, f)
		s.ms = append(s.ms, mk)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func newMasker(v any, path string) (masker, *Error) {
	opts, ok := v.(map[string]any)
	if name, isName := v.(string); isName {
		opts, ok = map[string]any{"method": name}, true
	}
	if !ok {
		return nil, errorf(path, "expected a method (%s) or {method: ..., ...}", strings.Join(maskMethods, ", "))
	}
	method, _ := opts["method"].(string)
	allowed := map[string][]string{
		"hash": {"salt_env"}, "redact": {"with"}, "partial": {"keep_first", "keep_last", "with"},
		"tokenize": {"key_env"}, "null": nil,
	}
	known, ok := allowed[method]
	if !ok {
		return nil, errorf(path+".method", "unknown method %q (known: %s)", opts["method"], strings.Join(maskMethods, ", "))
	}
	for k := range opts {
		if k != "method" && !slices.Contains(known, k) {
			return nil, errorf(path+"."+k, "unknown setting for method %s (known: %s)", method, strings.Join(known, ", "))
		}
	}
	env := func(key string) (string, *Error) {
		name, _ := opts[key].(string)
		if name == "" {
			return "", errorf(path+"."+key, "method %s needs %s, the environment variable holding the secret", method, key)
		}
		val, ok := os.LookupEnv(name)
		if !ok || val == "" {
			return "", errorf(path+"."+key, "environment variable %s is not set", name)
		}
		return val, nil
	}
	switch method {
	case "hash":
		salt, err := env("salt_env")
		if err != nil {
			return nil, err
		}
		return &hashMasker{salt: []byte(salt), h: sha256.New()}, nil
	case "redact":
		with := "***"
		if w, ok := opts["with"]; ok {
			s, ok := w.(string)
			if !ok {
				return nil, errorf(path+".with", "expected a string")
			}
			with = s
		}
		return redactMasker(with), nil
	case "partial":
		p := &partialMasker{with: '*'}
		for k, dst := range map[string]*int{"keep_first": &p.first, "keep_last": &p.last} {
			if o, ok := opts[k]; ok {
				n, ok := toInt(o)
				if !ok || n < 0 {
					return nil, errorf(path+"."+k, "expected a number of characters, got %v", o)
				}
				*dst = n
			}
		}
		if p.first == 0 && p.last == 0 {
			return nil, errorf(path, "method partial needs keep_first, keep_last or both")
		}
		if w, ok := opts["with"]; ok {
			s, _ := w.(string)
			if utf8.RuneCountInString(s) != 1 {
				return nil, errorf(path+".with", "expected one character")
			}
			p.with, _ = utf8.DecodeRuneInString(s)
		}
		return p, nil
	case "tokenize":
		key, err := env("key_env")
		if err != nil {
			return nil, err
		}
		t, terr := newTokenizer(key)
		if terr != nil {
			return nil, errorf(path+".key_env", "%v", terr)
		}
		return t, nil
	}
	return nullMasker{}, nil
}

type hashMasker struct {
	salt []byte
	h    hash.Hash
	sum  []byte
	hex  []byte
	text []byte
}

func (m *hashMasker) keepsType() bool { return false }

// mask is the hex SHA-256 of salt+value, with the value in its text form
// so the same email hashes alike whatever the source's types.
func (m *hashMasker) mask(v any) any {
	m.h.Reset()
	m.h.Write(m.salt)
	switch x := v.(type) {
	case string:
		m.text = append(m.text[:0], x...)
	case []byte:
		m.text = append(m.text[:0], x...)
	default:
		m.text = append(m.text[:0], connector.FormatValue(v)...)
	}
	m.h.Write(m.text)
	m.sum = m.h.Sum(m.sum[:0])
	m.hex = hex.AppendEncode(m.hex[:0], m.sum)
	return string(m.hex)
}

type redactMasker string

func (m redactMasker) keepsType() bool { return false }
func (m redactMasker) mask(any) any    { return string(m) }

type nullMasker struct{}

func (nullMasker) keepsType() bool { return true }
func (nullMasker) mask(any) any    { return nil }

type partialMasker struct {
	first, last int
	with        rune
	buf         []byte
}

func (m *partialMasker) keepsType() bool { return false }

// mask keeps the first and last characters asked for and replaces the
// rest. A value too short to hide anything is masked whole, or keep_last
// would reveal all of it.
func (m *partialMasker) mask(v any) any {
	s, ok := v.(string)
	if !ok {
		s = connector.FormatValue(v)
	}
	n := utf8.RuneCountInString(s)
	m.buf = m.buf[:0]
	i := 0
	for _, r := range s {
		if n > m.first+m.last && (i < m.first || i >= n-m.last) {
			m.buf = utf8.AppendRune(m.buf, r)
		} else {
			m.buf = utf8.AppendRune(m.buf, m.with)
		}
		i++
	}
	return string(m.buf)
}

// tokenizer encrypts values with AES-256-GCM under a nonce derived from
// the value by HMAC, so equal values give equal tokens (joins and
// distinct counts still work) and only the key holder can reverse them.
type tokenizer struct {
	aead  cipher.AEAD
	nonce hash.Hash
	buf   []byte
	sum   []byte
	out   []byte
}

const tokenPrefix = "tok_"

// deriveKey turns the secret from the environment into a separate key per
// purpose, so the nonce key never doubles as the encryption key.
func deriveKey(secret, purpose string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(purpose))
	return h.Sum(nil)
}

func newTokenizer(secret string) (*tokenizer, error) {
	block, err := aes.NewCipher(deriveKey(secret, "tributary tokenize encryption"))
	if err != nil {
		return nil, fmt.Errorf("tokenize key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("tokenize key: %w", err)
	}
	return &tokenizer{aead: aead, nonce: hmac.New(sha256.New, deriveKey(secret, "tributary tokenize nonce"))}, nil
}

func (t *tokenizer) keepsType() bool { return false }

func (t *tokenizer) mask(v any) any {
	s, ok := v.(string)
	if !ok {
		s = connector.FormatValue(v)
	}
	return t.token(s)
}

func (t *tokenizer) nonceFor(plain []byte) []byte {
	t.nonce.Reset()
	t.nonce.Write(plain)
	t.sum = t.nonce.Sum(t.sum[:0])
	return t.sum[:t.aead.NonceSize()]
}

func (t *tokenizer) token(s string) string {
	t.buf = append(t.buf[:0], s...)
	nonce := t.nonceFor(t.buf)
	sealed := t.aead.Seal(append(t.out[:0], nonce...), nonce, t.buf, nil)
	t.out = sealed
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(sealed)
}

// ErrBadToken is returned by [Detokenize] for a token that was not made
// with the key, or was changed.
var ErrBadToken = errors.New("invalid token or wrong key")

// Detokenize reverses a token made by the mask step's tokenize method
// with the same key (the value of its key_env variable).
func Detokenize(key, token string) (string, error) {
	t, err := newTokenizer(key)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, tokenPrefix))
	ns := t.aead.NonceSize()
	if err != nil || !strings.HasPrefix(token, tokenPrefix) || len(raw) < ns+t.aead.Overhead() {
		return "", ErrBadToken
	}
	plain, err := t.aead.Open(nil, raw[:ns], raw[ns:], nil)
	if err != nil {
		return "", ErrBadToken
	}
	// The nonce is a function of the value; one that does not match was
	// not made by the mask step.
	if !hmac.Equal(t.nonceFor(plain), raw[:ns]) {
		return "", ErrBadToken
	}
	return string(plain), nil
}

func (s *mask) Name() string { return "mask" }

func (s *mask) plan(in *connector.Schema) (*maskPlan, error) {
	p := &maskPlan{out: in.Clone()}
	for i, f := range s.fields {
		c := in.Index(f)
		if c < 0 {
			return nil, fmt.Errorf("field %q is not in the stream (fields: %v)", f, in.Names())
		}
		if !s.ms[i].keepsType() {
			p.out.Fields[c].Type = connector.TypeString
		} else {
			p.out.Fields[c].Nullable = true
		}
		p.cols = append(p.cols, c)
	}
	return p, nil
}

func (s *mask) Apply(_ context.Context, b *connector.Batch) (*connector.Batch, Result, error) {
	p, err := s.cache.get(b.Schema, s.plan)
	if err != nil {
		return nil, Result{}, err
	}
	for _, row := range b.Rows {
		for i, c := range p.cols {
			if row[c] != nil {
				row[c] = s.ms[i].mask(row[c])
			}
		}
	}
	b.Schema = p.out
	return b, Result{}, nil
}

// Lineage of mask: each masked field comes from itself.
func (s *mask) Lineage(in []string) ([]string, map[string][]string) {
	from := map[string][]string{}
	for _, f := range s.fields {
		if slices.Contains(in, f) {
			from[f] = []string{f}
		}
	}
	return in, from
}
