// Package peertest starts real peers of the remote file locations for
// tests: a MinIO server (S3) from a binary built once outside the
// repository, and an SFTP server over x/crypto/ssh and pkg/sftp in the
// test process. Under CI (CI=true) a peer that cannot start fails the
// test; elsewhere it skips it. Every peer stops with the test that
// started it.
package peertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/tributary-data/tributary/connectors/location"
)

// unavailable fails the test under CI and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// MinIOPath is where the MinIO binary is looked for: $TRIBUTARY_MINIO, or
// the cache folder .ci/run builds it into, or the PATH.
func MinIOPath() string {
	if p := os.Getenv("TRIBUTARY_MINIO"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "tributary", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	return ""
}

// S3 is a running MinIO server.
type S3 struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Client    *minio.Client
}

// Options are the location options that reach the server.
func (s *S3) Options() location.Options {
	return location.Options{S3Endpoint: s.Endpoint, S3AccessKeyID: s.AccessKey, S3SecretAccessKey: s.SecretKey, S3PathStyle: true, S3Region: "us-east-1"}
}

// Bucket creates a new bucket named after the test and returns its name.
func (s *S3) Bucket(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name = strings.Trim(fmt.Sprintf("t-%s-%x", name, rnd), "-")
	if err := s.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return name
}

// StartS3 starts a MinIO server for the test on a free port over a
// temporary directory; it stops with the test. A start takes about half
// a second.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	dir := t.TempDir()
	s, cmd, err := startMinIO(dir)
	if cmd != nil {
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	if err != nil {
		unavailable(t, "S3 peer: %v", err)
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startMinIO(dir string) (*S3, *exec.Cmd, error) {
	bin := MinIOPath()
	if bin == "" {
		return nil, nil, errors.New("no minio binary: run .ci/run once, or GOBIN=$HOME/.cache/tributary/bin go install github.com/minio/minio@latest")
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	s := &S3{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKey: "tributary", SecretKey: "tributary-secret"}
	cmd := exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port), "--console-address", fmt.Sprintf("127.0.0.1:%d", cport), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return nil, cmd, fmt.Errorf("minio did not become ready on port %d: %s", port, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := minio.New(fmt.Sprintf("127.0.0.1:%d", port), &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, cmd, err
	}
	s.Client = c
	return s, cmd, nil
}

// SFTP is an SFTP server serving the machine's file system, reached as
// User with Password or the private key Key.
type SFTP struct {
	Addr     string // 127.0.0.1:port
	User     string
	Password string
	// Key is a PEM private key the server accepts for User; EncryptedKey
	// is the same key encrypted with Passphrase.
	Key, EncryptedKey, Passphrase string
	// HostKey is the SHA256 fingerprint of the server's host key.
	HostKey string
	// KnownHosts is a known_hosts file listing the server.
	KnownHosts string
	// Root is a fresh directory for the test's files, and the user's
	// home directory ("~") on the server.
	Root string
}

// URL returns the sftp:// URL of path p under Root.
func (s *SFTP) URL(p string) string {
	return "sftp://" + s.User + "@" + s.Addr + filepath.ToSlash(filepath.Join(s.Root, p))
}

// Options are the location options that reach the server by password and
// pinned host key.
func (s *SFTP) Options() location.Options {
	return location.Options{SFTPPassword: s.Password, SFTPHostKey: s.HostKey}
}

// StartSFTP starts an SFTP server for the test on a free port; it stops
// with the test.
func StartSFTP(t testing.TB) *SFTP {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	_, userPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	userSigner, _ := ssh.NewSignerFromKey(userPriv)
	block, err := ssh.MarshalPrivateKey(userPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	const passphrase = "key passphrase"
	encBlock, err := ssh.MarshalPrivateKeyWithPassphrase(userPriv, "", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	s := &SFTP{User: "tester", Password: "s3cret-pw", Key: string(pem.EncodeToMemory(block)),
		EncryptedKey: string(pem.EncodeToMemory(encBlock)), Passphrase: passphrase,
		HostKey: ssh.FingerprintSHA256(hostSigner.PublicKey()), Root: t.TempDir()}
	userKey := string(userSigner.PublicKey().Marshal())
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == s.User && string(pw) == s.Password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == s.User && string(k.Marshal()) == userKey {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		unavailable(t, "SFTP peer: %v", err)
	}
	s.Addr = l.Addr().String()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", l.Addr().(*net.TCPAddr).Port, ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	s.KnownHosts = kh

	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveSSH(c, cfg, s.Root)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig, home string) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) >= 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
			}
		}()
		srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(home))
		if err != nil {
			ch.Close()
			continue
		}
		go func() {
			if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
				srv.Close()
			}
			ch.Close()
		}()
	}
}
