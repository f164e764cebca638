package transform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connector"
)

func TestMaskBuildErrors(t *testing.T) {
	t.Setenv("TEST_MASK_SALT", "pepper")
	t.Setenv("TEST_MASK_KEY", "k3y")
	cases := []struct {
		settings string
		want     []string
	}{
		{`{email: {method: hash, salt_env: TEST_MASK_SALT}, phone: {method: partial, keep_last: 4}, ssn: redact, card: {method: tokenize, key_env: TEST_MASK_KEY}, notes: "null"}`, nil},
		{`{email: {method: hash, salt_env: TEST_MASK_NOT_SET_ANYWHERE}}`, []string{"email.salt_env: environment variable TEST_MASK_NOT_SET_ANYWHERE is not set"}},
		{`{email: {method: hash}}`, []string{"email.salt_env: method hash needs salt_env, the environment variable holding the secret"}},
		{`{card: {method: tokenize, key_env: TEST_MASK_NOPE}}`, []string{"card.key_env: environment variable TEST_MASK_NOPE is not set"}},
		{`{email: {method: hsah}}`, []string{`email.method: unknown method "hsah" (known: hash, redact, partial, tokenize, null)`}},
		{`{email: shred}`, []string{`email.method: unknown method "shred" (known: hash, redact, partial, tokenize, null)`}},
		{`{phone: {method: partial}}`, []string{"phone: method partial needs keep_first, keep_last or both"}},
		{`{phone: {method: partial, keep_last: -1}}`, []string{"phone.keep_last: expected a number of characters, got -1"}},
		{`{phone: {method: partial, keep_last: 2, with: "##"}}`, []string{"phone.with: expected one character"}},
		{`{phone: {method: redact, keep_last: 2}}`, []string{"phone.keep_last: unknown setting for method redact (known: with)"}},
		{`{a: 3, b: [x]}`, []string{"a: expected a method (hash, redact, partial, tokenize, null) or {method: ..., ...}", "b: expected a method (hash, redact, partial, tokenize, null) or {method: ..., ...}"}},
		{`[email]`, []string{"expected a map of field: {method: ...}"}},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			_, err := Build("mask", settings(t, c.settings))
			if got := buildErrors(err); !slices.Equal(got, c.want) {
				t.Errorf("errors = %q, want %q", got, c.want)
			}
		})
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestMaskApply(t *testing.T) {
	t.Setenv("TEST_MASK_SALT", "pepper")
	s := mustBuild(t, "mask", `{email: {method: hash, salt_env: TEST_MASK_SALT}, phone: {method: partial, keep_last: 4}, card: {method: partial, keep_first: 2, keep_last: 2, with: "#"}, ssn: redact, name: {method: redact, with: "[hidden]"}, notes: {method: "null"}, id: {method: hash, salt_env: TEST_MASK_SALT}}`)
	spec := "id:int64, email:string, phone:string, card:string, ssn:string, name:string, notes:string"
	b := newTestBatch(spec,
		[]any{int64(7), "ann@example.com", "+14155552671", "4111111111111111", "123-45-6789", "Ann", "vip"},
		[]any{int64(8), nil, "12", "Zoë Ünï", nil, nil, nil},
	)
	out, res, err := s.Apply(context.Background(), b)
	if err != nil || len(res.Rejects) != 0 {
		t.Fatal(err, res.Rejects)
	}
	want := [][]any{
		{sha("pepper7"), sha("pepperann@example.com"), "********2671", "41############11", "***", "[hidden]", nil},
		{sha("pepper8"), nil, "**", "Zo###nï", nil, nil, nil},
	}
	if !reflect.DeepEqual(out.Rows, want) {
		t.Errorf("rows\n%q\nwant\n%q", out.Rows, want)
	}
	types := []connector.Type{"string", "string", "string", "string", "string", "string", "string"}
	for i, f := range out.Schema.Fields {
		if f.Type != types[i] {
			t.Errorf("%s: type %s, want %s", f.Name, f.Type, types[i])
		}
	}
}

func TestTokenizeRoundTrip(t *testing.T) {
	t.Setenv("TEST_MASK_KEY", "a long secret key")
	s := mustBuild(t, "mask", `{card: {method: tokenize, key_env: TEST_MASK_KEY}}`)
	values := []string{"4111111111111111", "4111111111111111", "5500000000000004", "", "Zoë"}
	b := connector.NewBatch("s", schemaOf("card:string"), len(values))
	for _, v := range values {
		b.Append([]any{v})
	}
	out, _, err := s.Apply(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, len(values))
	for i, r := range out.Rows {
		tokens[i] = r[0].(string)
		if !strings.HasPrefix(tokens[i], "tok_") || strings.Contains(tokens[i], values[i]) && values[i] != "" {
			t.Errorf("token %q of %q", tokens[i], values[i])
		}
		got, err := Detokenize("a long secret key", tokens[i])
		if err != nil || got != values[i] {
			t.Errorf("Detokenize(%q) = %q, %v; want %q", tokens[i], got, err, values[i])
		}
	}
	if tokens[0] != tokens[1] {
		t.Error("equal values gave different tokens")
	}
	if tokens[0] == tokens[2] {
		t.Error("different values gave equal tokens")
	}
	if _, err := Detokenize("another key", tokens[0]); !errors.Is(err, ErrBadToken) {
		t.Errorf("wrong key: %v", err)
	}
	tampered := []byte(tokens[0])
	tampered[len(tampered)-3] ^= 1
	for _, bad := range []string{string(tampered), "tok_", "nonsense", tokens[0][4:]} {
		if _, err := Detokenize("a long secret key", bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Detokenize(%q): %v, want ErrBadToken", bad, err)
		}
	}
}

func TestMaskLineage(t *testing.T) {
	s := mustBuild(t, "mask", `{ssn: redact}`)
	out, from := s.(Lineager).Lineage([]string{"id", "ssn"})
	if !slices.Equal(out, []string{"id", "ssn"}) || !reflect.DeepEqual(from, map[string][]string{"ssn": {"ssn"}}) {
		t.Errorf("lineage %v %v", out, from)
	}
}
