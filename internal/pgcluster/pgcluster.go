package pgcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Cluster is one PostgreSQL cluster of a test, removed when the test ends.
type Cluster struct {
	t        testing.TB
	bin      string
	dir      string
	port     string
	settings map[string]string
	cred     *syscall.Credential
}

// Option changes how a cluster is made.
type Option func(*Cluster)

// WithSetting passes a server setting (postgres -c name=value) on every
// start.
func WithSetting(name, value string) Option {
	return func(c *Cluster) { c.settings[name] = value }
}

// LogicalReplication sets what logical decoding needs: wal_level=logical
// and room for a few slots and WAL senders.
func LogicalReplication() Option {
	return func(c *Cluster) {
		c.settings["wal_level"] = "logical"
		c.settings["max_replication_slots"] = "10"
		c.settings["max_wal_senders"] = "10"
	}
}

// Start creates a cluster with initdb in a temporary directory (the newest
// server under /usr/lib/postgresql/*/bin, or $PG_BIN) and starts it on a
// free loopback port, with trust authentication for user postgres. Without
// a PostgreSQL installation the test is skipped, except under CI where it
// fails. As root, the server runs as the postgres user, which initdb
// demands.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	bin := os.Getenv("PG_BIN")
	if bin == "" {
		initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(initdbs) == 0 {
			if os.Getenv("CI") != "" {
				t.Fatal("initdb not found under /usr/lib/postgresql/*/bin (set PG_BIN)")
			}
			t.Skip("initdb not found under /usr/lib/postgresql/*/bin; CI fails here instead of skipping")
		}
		sort.Slice(initdbs, func(i, j int) bool { return version(initdbs[i]) < version(initdbs[j]) })
		bin = filepath.Dir(initdbs[len(initdbs)-1])
	}
	dir, err := os.MkdirTemp("", "tributary-pgcluster")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir, settings: map[string]string{
		"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off",
	}}
	for _, o := range opts {
		o(c)
	}
	c.port = freePort(t)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user to run the server: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	t.Cleanup(func() {
		_, _ = c.pgctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if out, err := c.command("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.Start()
	return c
}

// version orders /usr/lib/postgresql/<major>/bin paths numerically.
func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// Port is the port the cluster listens on at 127.0.0.1.
func (c *Cluster) Port() string { return c.port }

// URL is a connection URL for database db (postgres when empty).
func (c *Cluster) URL(db string) string {
	if db == "" {
		db = "postgres"
	}
	return "postgres://postgres@127.0.0.1:" + c.port + "/" + db + "?sslmode=disable"
}

// Dir is the cluster's directory: data/ and server.log.
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	return c.command("pg_ctl", append([]string{"-D", c.data(), "-w", "-t", "60"}, args...)...).CombinedOutput()
}

// Start starts the stopped cluster, with the same port and settings.
func (c *Cluster) Start() {
	c.t.Helper()
	names := make([]string, 0, len(c.settings))
	for n := range c.settings {
		names = append(names, n)
	}
	sort.Strings(names)
	opts := []string{"-p " + c.port, "-h 127.0.0.1", "-k " + c.dir}
	for _, n := range names {
		opts = append(opts, fmt.Sprintf("-c %s=%s", n, c.settings[n]))
	}
	if out, err := c.pgctl("start", "-l", filepath.Join(c.dir, "server.log"), "-o", strings.Join(opts, " ")); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("start PostgreSQL: %v\n%s\n%s", err, out, log)
	}
}

// Stop shuts the cluster down cleanly; Kill stops it as a crash would.
func (c *Cluster) Stop() { c.stop("fast") }

// Kill stops the server without a checkpoint, as a power cut would.
func (c *Cluster) Kill() { c.stop("immediate") }

func (c *Cluster) stop(mode string) {
	c.t.Helper()
	if out, err := c.pgctl("stop", "-m", mode); err != nil {
		c.t.Fatalf("stop PostgreSQL: %v\n%s", err, out)
	}
}
