package filesink

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSafeName(t *testing.T) {
	tests := []struct{ stream, want string }{
		{"orders", "orders"},
		{"with space", "with%20space"},
		{"../up", "%2E.%2Fup"},
		{`a/b\c`, "a%2Fb%5Cc"},
		{`it's "q"`, "it%27s%20%22q%22"},
		{"Ünïcödé_名前-1.x", "Ünïcödé_名前-1.x"},
		{"100%", "100%25"},
		{"bad\xffutf8", "bad%FFutf8"},
		{"", "%00empty"},
		{"x.quarantine.jsonl", "x%2Equarantine.jsonl"},
	}
	for _, tc := range tests {
		if got := SafeName(tc.stream); got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.stream, got, tc.want)
		}
	}
	long := SafeName(strings.Repeat("é", 300))
	if len(long) > maxNameBytes || !strings.Contains(long, "~") {
		t.Errorf("long name = %q (%d bytes)", long, len(long))
	}
	if SafeName(strings.Repeat("a", 300)) == SafeName(strings.Repeat("a", 301)) {
		t.Error("long names that differ share a safe name")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	blocked := filepath.Join(dir, "file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		wantErr bool
	}{
		{filepath.Join(dir, "new", "nested"), false},
		{filepath.Join(blocked, "below a file"), true},
	}
	for _, tc := range tests {
		d := &Destination{loc: tc.path}
		if err := d.Check(context.Background()); (err != nil) != tc.wantErr {
			t.Errorf("Check(%s) = %v, want error %v", tc.path, err, tc.wantErr)
		}
	}
	if _, err := New("", nil); err == nil {
		t.Error("New without path or format: no error")
	}
}
