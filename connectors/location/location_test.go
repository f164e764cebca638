package location_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-data/tributary/connectors/location"
	"github.com/tributary-data/tributary/connectors/location/peertest"
)

// writable is one file system under test with the location of a fresh
// directory in it.
type writable struct {
	name string
	r    *location.Resolver
	root string // URL or path of an empty directory
}

func writables(t *testing.T) []writable {
	s3 := peertest.StartS3(t)
	sf := peertest.StartSFTP(t)
	return []writable{
		{"local", location.NewResolver(location.Options{}), t.TempDir()},
		{"s3", location.NewResolver(s3.Options()), "s3://" + s3.Bucket(t) + "/some/prefix"},
		{"sftp", location.NewResolver(sf.Options()), sf.URL("dir")},
	}
}

// TestContract walks every operation the file connectors use over each
// writable file system.
func TestContract(t *testing.T) {
	ctx := context.Background()
	for _, w := range writables(t) {
		t.Run(w.name, func(t *testing.T) {
			defer w.r.Close()
			fsys, root, err := w.r.Resolve(ctx, w.root)
			if err != nil {
				t.Fatal(err)
			}
			if err := fsys.MkdirAll(ctx, fsys.Join(root, "sub")); err != nil {
				t.Fatal(err)
			}
			put := func(name, content string) {
				t.Helper()
				wr, err := fsys.Create(ctx, fsys.Join(root, name))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(wr, content); err != nil {
					t.Fatal(err)
				}
				n, err := wr.Commit()
				if err != nil || n != int64(len(content)) {
					t.Fatalf("commit %s: %d, %v", name, n, err)
				}
			}
			put("b.csv", "id\n2\n")
			put("a.csv", "id\n1\n")
			put("c.txt", "x")
			put("sub/d.csv", "id\n4\n")

			infos, err := fsys.Glob(ctx, fsys.Join(root, "*.csv"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, in := range infos {
				names = append(names, fsys.URL(in.Path))
				if in.Size != 5 || in.ModTime.IsZero() {
					t.Errorf("%s: size %d mtime %v", in.Path, in.Size, in.ModTime)
				}
			}
			want := []string{w.root + "/a.csv", w.root + "/b.csv"}
			if w.name == "sftp" {
				want = []string{strings.TrimSuffix(w.root, "dir") + "dir/a.csv", strings.TrimSuffix(w.root, "dir") + "dir/b.csv"}
			}
			if !slices.Equal(names, want) {
				t.Errorf("glob = %v, want %v", names, want)
			}
			if _, err := fsys.Glob(ctx, fsys.Join(root, "missing.csv")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("glob of a missing file: %v, want not-exist", err)
			}
			if got, err := fsys.Glob(ctx, fsys.Join(root, "none*.csv")); err != nil || len(got) != 0 {
				t.Errorf("glob matching nothing: %v, %v", got, err)
			}

			rc, err := fsys.Open(ctx, fsys.Join(root, "a.csv"), 3, location.Info{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "1\n" {
				t.Errorf("read from offset 3 = %q", b)
			}
			ra, err := fsys.OpenReaderAt(ctx, fsys.Join(root, "b.csv"))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1)
			if _, err := ra.ReadAt(buf, 3); err != nil || buf[0] != '2' || ra.Size() != 5 {
				t.Errorf("ReadAt = %q, %v, size %d", buf, err, ra.Size())
			}
			ra.Close()

			entries, err := fsys.ReadDir(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, e := range entries {
				n := e.Name
				if e.Dir {
					n += "/"
				}
				listed = append(listed, n)
			}
			slices.Sort(listed)
			if !slices.Equal(listed, []string{"a.csv", "b.csv", "c.txt", "sub/"}) {
				t.Errorf("ReadDir = %v", listed)
			}

			m := fsys.Join(root, "_manifest.json")
			for _, content := range []string{"first", "second, longer"} {
				if err := fsys.WriteFile(ctx, m, ".tmp-", []byte(content)); err != nil {
					t.Fatal(err)
				}
				if got, err := fsys.ReadFile(ctx, m); err != nil || string(got) != content {
					t.Errorf("ReadFile = %q, %v; want %q", got, err, content)
				}
			}
			if _, err := fsys.ReadFile(ctx, fsys.Join(root, "nope")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadFile of a missing file: %v, want not-exist", err)
			}

			if err := fsys.Rename(ctx, fsys.Join(root, "c.txt"), fsys.Join(root, "a.csv")); err != nil {
				t.Fatal(err)
			}
			if got, _ := fsys.ReadFile(ctx, fsys.Join(root, "a.csv")); string(got) != "x" {
				t.Errorf("renamed over a.csv: %q", got)
			}
			if _, err := fsys.Stat(ctx, fsys.Join(root, "c.txt")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat of the renamed file: %v", err)
			}

			q := fsys.Join(root, "q.jsonl")
			for _, line := range []string{"one\n", "two\n"} {
				a, err := fsys.OpenAppend(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(a, line)
				if err := a.Sync(); err != nil {
					t.Fatal(err)
				}
				io.WriteString(a, "unsynced\n")
				if w.name == "s3" {
					// Only what was synced reaches an object.
					a.Close()
				} else {
					a.Close()
					if err := fsys.Truncate(ctx, q, int64(len("one\n")*map[string]int{"one\n": 1, "two\n": 2}[line])); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got, _ := fsys.ReadFile(ctx, q); string(got) != "one\ntwo\n" {
				t.Errorf("appended = %q", got)
			}
			if err := fsys.Truncate(ctx, q, 4); err != nil {
				t.Fatal(err)
			}
			if got, _ := fsys.ReadFile(ctx, q); string(got) != "one\n" {
				t.Errorf("truncated = %q", got)
			}

			wr, err := fsys.Create(ctx, fsys.Join(root, "aborted"))
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(wr, "half")
			wr.Abort()
			wr.Abort() // a second abort, as after a failed commit, returns
			if _, err := fsys.Stat(ctx, fsys.Join(root, "aborted")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("aborted file exists: %v", err)
			}
			if err := fsys.Remove(ctx, fsys.Join(root, "b.csv")); err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Stat(ctx, fsys.Join(root, "b.csv")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("removed file exists: %v", err)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	sf := peertest.StartSFTP(t)
	tests := []struct {
		name string
		opts location.Options
		loc  string
		want string
	}{
		{"unknown scheme", location.Options{}, "ftp://host/x.csv", "unknown scheme"},
		{"no bucket", location.Options{}, "s3:///x.csv", "no bucket"},
		{"sftp without user", location.Options{}, "sftp://127.0.0.1/x", "no user"},
		{"sftp without credentials", location.Options{SFTPHostKey: sf.HostKey}, sf.URL("x"), "no credentials"},
		{"sftp without host check", location.Options{SFTPPassword: "x"}, sf.URL("x"), "sftp_host_key_fingerprint or sftp_known_hosts"},
		{"sftp wrong host key", location.Options{SFTPPassword: sf.Password, SFTPHostKey: "SHA256:AAAA"}, sf.URL("x"), "not the pinned"},
		{"sftp wrong password", location.Options{SFTPPassword: "nope", SFTPHostKey: sf.HostKey}, sf.URL("x"), "unable to authenticate"},
		{"sftp encrypted key without passphrase", location.Options{SFTPPrivateKey: sf.EncryptedKey, SFTPHostKey: sf.HostKey}, sf.URL("x"), "sftp_private_key"},
		{"sftp host not in known_hosts", location.Options{SFTPPassword: sf.Password, SFTPKnownHosts: emptyFile(t)}, sf.URL("x"), "knownhosts: key is unknown"},
		{"bad ca file", location.Options{CAFile: "/nonexistent/ca.pem"}, "https://127.0.0.1/x.csv", "ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := location.NewResolver(tc.opts)
			defer r.Close()
			_, _, err := r.Resolve(ctx, tc.loc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// The other ways to check and reach the server do work.
	for name, opts := range map[string]location.Options{
		"private key and known_hosts": {SFTPPrivateKey: sf.Key, SFTPKnownHosts: sf.KnownHosts},
		"encrypted private key":       {SFTPPrivateKey: sf.EncryptedKey, SFTPPassphrase: sf.Passphrase, SFTPHostKey: sf.HostKey},
		"password in the URL":         {SFTPHostKey: sf.HostKey},
	} {
		loc := sf.URL("")
		if name == "password in the URL" {
			loc = strings.Replace(loc, sf.User+"@", sf.User+":"+sf.Password+"@", 1)
		}
		r := location.NewResolver(opts)
		fsys, p, err := r.Resolve(ctx, loc)
		if err == nil {
			_, err = fsys.ReadDir(ctx, p)
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		r.Close()
	}
	if _, p, _ := location.NewResolver(location.Options{}).Resolve(ctx, filepath.Join("a", "b")); p != filepath.Join("a", "b") {
		t.Errorf("local path resolved to %q", p)
	}
}

// TestS3Errors: bad credentials and a missing bucket fail with errors
// naming the location, never the secret.
func TestS3Errors(t *testing.T) {
	ctx := context.Background()
	s3 := peertest.StartS3(t)
	bucket := s3.Bucket(t)
	wrong := s3.Options()
	wrong.S3SecretAccessKey = "not-the-secret"
	tests := []struct {
		name string
		opts location.Options
		loc  string
		want string
	}{
		{"wrong secret", wrong, "s3://" + bucket + "/in/*.csv", "s3://" + bucket + "/in/"},
		{"missing bucket", s3.Options(), "s3://no-such-bucket/in/*.csv", "bucket does not exist"},
		{"missing object", s3.Options(), "s3://" + bucket + "/in/a.csv", "s3://" + bucket + "/in/a.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := location.NewResolver(tc.opts)
			defer r.Close()
			fsys, p, err := r.Resolve(ctx, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fsys.Glob(ctx, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.opts.S3SecretAccessKey) {
				t.Fatalf("error = %v, want one naming %q without the secret", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestS3CredentialsFromEnvironment: without keys in the config, the AWS
// environment variables sign the requests; without those, requests are
// anonymous and a private bucket refuses them.
func TestS3CredentialsFromEnvironment(t *testing.T) {
	ctx := context.Background()
	s3 := peertest.StartS3(t)
	bucket := s3.Bucket(t)
	opts := location.Options{S3Endpoint: s3.Endpoint, S3PathStyle: true}
	list := func() error {
		r := location.NewResolver(opts)
		defer r.Close()
		fsys, p, err := r.Resolve(ctx, "s3://"+bucket+"/*.csv")
		if err != nil {
			return err
		}
		_, err = fsys.Glob(ctx, p)
		return err
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("MINIO_ROOT_USER", "")
	t.Setenv("MINIO_ROOT_PASSWORD", "")
	if err := list(); err == nil || !strings.Contains(err.Error(), "Access Denied") {
		t.Errorf("anonymous list of a private bucket: %v, want access denied", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	if err := list(); err != nil {
		t.Errorf("list with keys from the environment: %v", err)
	}
}

func emptyFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSFTPHome: "~" at the start of an sftp:// path is the user's home
// directory on the server; names are reported with the absolute path.
func TestSFTPHome(t *testing.T) {
	ctx := context.Background()
	sf := peertest.StartSFTP(t)
	if err := os.MkdirAll(filepath.Join(sf.Root, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sf.Root, "in", "a.csv"), []byte("id\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := location.NewResolver(sf.Options())
	defer r.Close()
	fsys, p, err := r.Resolve(ctx, "sftp://"+sf.User+"@"+sf.Addr+"/~/in/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	infos, err := fsys.Glob(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || fsys.URL(infos[0].Path) != sf.URL("in/a.csv") {
		t.Fatalf("glob of ~/in/*.csv = %+v, want %s", infos, sf.URL("in/a.csv"))
	}
}
