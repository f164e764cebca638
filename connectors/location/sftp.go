package location

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sftpFS is one SFTP server reached over SSH; paths are server paths.
type sftpFS struct {
	base string // sftp://user@host:port
	ssh  *ssh.Client
	c    *sftp.Client
	home string // the directory the server starts the session in
}

// abs expands a leading "/~" into the user's home directory on the
// server, so sftp://user@host/~/in/*.csv needs no knowledge of where
// that is.
func (s *sftpFS) abs(p string) string {
	if s.home != "" && (p == "/~" || strings.HasPrefix(p, "/~/")) {
		return path.Join(s.home, p[2:])
	}
	return p
}

func dialSFTP(ctx context.Context, opts Options, u *url.URL) (*sftpFS, error) {
	user := u.User.Username()
	if user == "" {
		return nil, errors.New("no user: write sftp://user@host/path")
	}
	var auth []ssh.AuthMethod
	password, hasURLPassword := u.User.Password()
	if opts.SFTPPassword != "" {
		password = opts.SFTPPassword
	}
	if opts.SFTPPrivateKey != "" {
		var signer ssh.Signer
		var err error
		if opts.SFTPPassphrase != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(opts.SFTPPrivateKey), []byte(opts.SFTPPassphrase))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(opts.SFTPPrivateKey))
		}
		if err != nil {
			return nil, fmt.Errorf("sftp_private_key: %w", err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if password != "" || hasURLPassword {
		auth = append(auth, ssh.Password(password))
	}
	if len(auth) == 0 {
		return nil, errors.New("no credentials: set sftp_password or sftp_private_key")
	}
	hostKey, err := hostKeyCallback(opts)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "22")
	}
	cfg := &ssh.ClientConfig{User: user, Auth: auth, HostKeyCallback: hostKey, Timeout: 30 * time.Second}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh: %w", err)
	}
	sc := ssh.NewClient(cc, chans, reqs)
	c, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		return nil, fmt.Errorf("sftp: %w", err)
	}
	home, err := c.Getwd()
	if err != nil {
		home = ""
	}
	return &sftpFS{base: "sftp://" + user + "@" + addr, ssh: sc, c: c, home: home}, nil
}

// hostKeyCallback checks the server against a pinned fingerprint or a
// known_hosts file; with neither, it refuses to connect rather than trust
// whatever key answers.
func hostKeyCallback(opts Options) (ssh.HostKeyCallback, error) {
	switch {
	case opts.SFTPHostKey != "":
		want := strings.TrimSpace(opts.SFTPHostKey)
		if !strings.HasPrefix(want, "SHA256:") {
			return nil, fmt.Errorf("sftp_host_key_fingerprint %q: want the SHA256:... form ssh-keygen -l prints", want)
		}
		return func(host string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				return fmt.Errorf("host key of %s is %s, not the pinned %s", host, got, want)
			}
			return nil
		}, nil
	case opts.SFTPKnownHosts != "":
		cb, err := knownhosts.New(opts.SFTPKnownHosts)
		if err != nil {
			return nil, fmt.Errorf("sftp_known_hosts: %w", err)
		}
		return cb, nil
	}
	return nil, errors.New("no way to check the server: set sftp_host_key_fingerprint or sftp_known_hosts")
}

func (s *sftpFS) URL(p string) string        { return s.base + p }
func (s *sftpFS) Join(elem ...string) string { return path.Join(elem...) }
func (s *sftpFS) DirectCreate() bool         { return false }

func (s *sftpFS) Close() error {
	err := s.c.Close()
	if cerr := s.ssh.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *sftpFS) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return notExist(op, s.URL(p), err)
	}
	return fmt.Errorf("%s %s: %w", op, s.URL(p), err)
}

func (s *sftpFS) MkdirAll(_ context.Context, dir string) error {
	return s.wrap("mkdir", dir, s.c.MkdirAll(dir))
}

func (s *sftpFS) Stat(_ context.Context, p string) (Info, error) {
	fi, err := s.c.Stat(p)
	if err != nil {
		return Info{}, s.wrap("stat", p, err)
	}
	return infoOf(p, fi), nil
}

func (s *sftpFS) Glob(ctx context.Context, pattern string) ([]Info, error) {
	matches, err := s.c.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", s.URL(pattern), err)
	}
	if len(matches) == 0 && !HasMeta(pattern) {
		if _, err := s.Stat(ctx, pattern); err != nil {
			return nil, err
		}
	}
	sort.Strings(matches)
	out := make([]Info, 0, len(matches))
	for _, m := range matches {
		fi, err := s.c.Stat(m)
		if err != nil {
			return nil, s.wrap("stat", m, err)
		}
		if fi.Mode().IsRegular() {
			out = append(out, infoOf(m, fi))
		}
	}
	return out, nil
}

func (s *sftpFS) Open(_ context.Context, p string, offset int64, want Info) (io.ReadCloser, error) {
	f, err := s.c.Open(p)
	if err != nil {
		return nil, s.wrap("open", p, err)
	}
	if want != (Info{}) {
		// The handle reads the file now at p: one replaced since the
		// listing shows another size or time.
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, s.wrap("stat", p, err)
		}
		if fi.Size() != want.Size || !fi.ModTime().Equal(want.ModTime) {
			f.Close()
			return nil, fmt.Errorf("open %s: changed since it was listed (size %d, modified %s; listed %d, %s)",
				s.URL(p), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339), want.Size, want.ModTime.UTC().Format(time.RFC3339))
		}
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, s.wrap("seek", p, err)
		}
	}
	return f, nil
}

type sftpReaderAt struct {
	*sftp.File
	size int64
}

func (r sftpReaderAt) Size() int64 { return r.size }

func (s *sftpFS) OpenReaderAt(_ context.Context, p string) (ReaderAt, error) {
	f, err := s.c.Open(p)
	if err != nil {
		return nil, s.wrap("open", p, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.wrap("stat", p, err)
	}
	return sftpReaderAt{f, st.Size()}, nil
}

func (s *sftpFS) ReadDir(ctx context.Context, dir string) ([]Entry, error) {
	fis, err := s.c.ReadDirContext(ctx, dir)
	if err != nil {
		return nil, s.wrap("list", dir, err)
	}
	out := make([]Entry, len(fis))
	for i, fi := range fis {
		out[i] = Entry{Name: fi.Name(), Dir: fi.IsDir()}
	}
	return out, nil
}

type sftpWriter struct {
	s *sftpFS
	p string
	f *sftp.File
	n int64
}

func (s *sftpFS) Create(_ context.Context, p string) (Writer, error) {
	f, err := s.c.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY)
	if err != nil {
		return nil, s.wrap("create", p, err)
	}
	return &sftpWriter{s: s, p: p, f: f}, nil
}

func (w *sftpWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *sftpWriter) Commit() (int64, error) {
	err := syncFile(w.f)
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return w.n, w.s.wrap("write", w.p, err)
}

func (w *sftpWriter) Abort() error {
	w.f.Close()
	return w.s.c.Remove(w.p)
}

// syncFile asks the server to flush the file where it offers
// fsync@openssh.com; servers without it give no stronger promise.
func syncFile(f *sftp.File) error {
	err := f.Sync()
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported {
		return nil
	}
	return err
}

// Rename replaces to atomically where the server offers
// posix-rename@openssh.com (OpenSSH does); elsewhere SFTP's own rename
// refuses an existing target, so the target is removed first.
func (s *sftpFS) Rename(_ context.Context, from, to string) error {
	if _, ok := s.c.HasExtension("posix-rename@openssh.com"); ok {
		return s.wrap("rename", from, s.c.PosixRename(from, to))
	}
	if err := s.c.Remove(to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s.wrap("rename", from, err)
	}
	return s.wrap("rename", from, s.c.Rename(from, to))
}

func (s *sftpFS) Remove(_ context.Context, p string) error {
	return s.wrap("remove", p, s.c.Remove(p))
}

func (s *sftpFS) ReadFile(_ context.Context, p string) ([]byte, error) {
	f, err := s.c.Open(p)
	if err != nil {
		return nil, s.wrap("read", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return b, s.wrap("read", p, err)
}

func (s *sftpFS) WriteFile(ctx context.Context, p, tmpPrefix string, data []byte) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := path.Join(path.Dir(p), tmpPrefix+path.Base(p)+"."+hex.EncodeToString(rnd[:]))
	w, err := s.Create(ctx, tmp)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return s.wrap("write", tmp, err)
	}
	if _, err := w.Commit(); err != nil {
		s.c.Remove(tmp)
		return err
	}
	if err := s.Rename(ctx, tmp, p); err != nil {
		s.c.Remove(tmp)
		return err
	}
	return nil
}

// sftpAppender writes at the end of the file as it was opened: servers
// differ in how they treat SFTP's append flag, an explicit offset does not.
type sftpAppender struct {
	f *sftp.File
}

func (s *sftpFS) OpenAppend(_ context.Context, p string) (Appender, error) {
	f, err := s.c.OpenFile(p, os.O_CREATE|os.O_WRONLY)
	if err != nil {
		return nil, s.wrap("open", p, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, s.wrap("seek", p, err)
	}
	return &sftpAppender{f}, nil
}

func (a *sftpAppender) Write(b []byte) (int, error) { return a.f.Write(b) }
func (a *sftpAppender) Sync() error                 { return syncFile(a.f) }
func (a *sftpAppender) Close() error                { return a.f.Close() }

func (s *sftpFS) Truncate(_ context.Context, p string, size int64) error {
	return s.wrap("truncate", p, s.c.Truncate(p, size))
}
