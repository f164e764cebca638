package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// bin is the tributary binary built once for every test of the package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tributary-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "tributary")
	// Built without -race on purpose: the kill loops need realistic speed,
	// and the race detector covers the same code in the unit tests.
	build := exec.Command("go", "build", "-o", bin, "../cmd/tributary")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tributary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const pgURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// needPostgres connects to the machine's PostgreSQL. Under CI a missing
// server fails the test; elsewhere it skips with the reason.
func needPostgres(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s is required: %v", pgURL, err)
		}
		t.Skipf("PostgreSQL not reachable (%v); CI fails here instead of skipping", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

type result struct {
	stdout, stderr string
	code           int
}

// tributary runs the binary in dir with extra environment variables.
func tributary(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run tributary %v: %v", args, err)
	}
	return r
}

// copyFile copies src (relative to the repository) to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// testSecretKey encrypts stored secrets in tests whose processes share a
// PostgreSQL store: every host needs the same key.
const testSecretKey = "dHJpYnV0YXJ5LWUyZS1zZWNyZXQta2V5LTMyYnl0ZXM="

// pgStoreEnv is the environment of a process on the PostgreSQL store at
// url, with the secret key all its processes share.
func pgStoreEnv(url string) []string {
	return []string{"TRIBUTARY_DATABASE_URL=" + url, "TRIBUTARY_SECRET_KEY=" + testSecretKey}
}
