package location

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Options are the credentials and settings of remote locations, shared by
// every stream of a connector. They sit at the top level of a file
// connector's config, so secrets are marked and masked like any other.
type Options struct {
	S3Endpoint        string `json:"s3_endpoint,omitempty" jsonschema:"description=S3-compatible endpoint for s3:// paths: host[:port] or URL; http:// turns TLS off (default s3.amazonaws.com)"`
	S3Region          string `json:"s3_region,omitempty" jsonschema:"description=Region of the bucket (default us-east-1)"`
	S3AccessKeyID     string `json:"s3_access_key_id,omitempty" jsonschema:"description=Access key of s3:// paths; when empty the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD) environment variables are used and without them requests are anonymous (public buckets)"`
	S3SecretAccessKey string `json:"s3_secret_access_key,omitempty" secret:"true" jsonschema:"description=Secret key of s3:// paths"`
	S3PathStyle       bool   `json:"s3_path_style,omitempty" jsonschema:"description=Address buckets as endpoint/bucket instead of bucket.endpoint (MinIO and most self-hosted stores)"`

	SFTPPassword   string `json:"sftp_password,omitempty" secret:"true" jsonschema:"description=Password of sftp:// paths"`
	SFTPPrivateKey string `json:"sftp_private_key,omitempty" secret:"true" jsonschema:"description=PEM private key of sftp:// paths (OpenSSH or PKCS#8)"`
	SFTPPassphrase string `json:"sftp_private_key_passphrase,omitempty" secret:"true" jsonschema:"description=Passphrase of an encrypted sftp_private_key"`
	SFTPKnownHosts string `json:"sftp_known_hosts,omitempty" jsonschema:"description=known_hosts file the server's host key must be listed in"`
	SFTPHostKey    string `json:"sftp_host_key_fingerprint,omitempty" jsonschema:"description=Pinned SHA256 fingerprint of the server's host key as ssh-keygen -l prints it (SHA256:...)"`

	HTTPHeaders map[string]string `json:"http_headers,omitempty" secret:"true" jsonschema:"description=Headers sent with every https:// request (e.g. Authorization)"`
	CAFile      string            `json:"ca_file,omitempty" jsonschema:"description=PEM file of certificate authorities trusted for https:// and TLS S3 endpoints in addition to the system ones"`
}

// Resolver turns paths and URLs into file systems, keeping one client per
// bucket or server.
type Resolver struct {
	opts Options
	mu   sync.Mutex
	fss  map[string]FS
}

// NewResolver returns a resolver using opts for remote locations.
func NewResolver(opts Options) *Resolver {
	return &Resolver{opts: opts, fss: map[string]FS{}}
}

// Local is the file system of local paths.
var Local FS = localFS{}

// Remote reports whether loc names a remote location rather than a local
// path.
func Remote(loc string) bool {
	scheme, _, ok := strings.Cut(loc, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "s3", "sftp", "https", "http":
		return true
	}
	return false
}

// Resolve returns the file system serving loc and loc's path inside it.
// A nil resolver knows local paths only.
func (r *Resolver) Resolve(ctx context.Context, loc string) (FS, string, error) {
	if !Remote(loc) {
		if strings.Contains(loc, "://") {
			return nil, "", fmt.Errorf("path %q: unknown scheme (want s3://, sftp://, https:// or a local path)", loc)
		}
		return Local, loc, nil
	}
	if r == nil {
		return nil, "", fmt.Errorf("path %q: remote locations are not configured here", loc)
	}
	scheme, u, p, err := split(loc)
	if err != nil {
		return nil, "", err
	}
	var key string
	switch scheme {
	case "s3":
		if u.Host == "" {
			return nil, "", fmt.Errorf("path %q: no bucket", loc)
		}
		key, p = "s3://"+u.Host, strings.TrimPrefix(p, "/")
	case "sftp":
		if u.Host == "" {
			return nil, "", fmt.Errorf("path %q: no host", loc)
		}
		host := u.Host
		if u.Port() == "" {
			host += ":22"
		}
		key = "sftp://" + u.User.Username() + "@" + host
	default:
		key, p = "http", loc
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.fss[key]; ok {
		return f, expand(f, p), nil
	}
	var f FS
	switch scheme {
	case "s3":
		f, err = newS3(r.opts, u.Host)
	case "sftp":
		f, err = dialSFTP(ctx, r.opts, u)
	default:
		f, err = newHTTP(r.opts)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", redact(u), err)
	}
	r.fss[key] = f
	return f, expand(f, p), nil
}

// expand resolves what only a connected file system knows: the home
// directory of an SFTP user.
func expand(f FS, p string) string {
	if s, ok := f.(*sftpFS); ok {
		return s.abs(p)
	}
	return p
}

// split cuts a location URL into its scheme, its authority (user, host,
// port) and its path. The path of s3:// and sftp:// locations is taken as
// written, not URL-decoded, so that glob characters ('?' above all) stay
// glob characters; that of http(s):// is the URL's own.
func split(loc string) (scheme string, u *url.URL, p string, err error) {
	scheme, rest, _ := strings.Cut(loc, "://")
	scheme = strings.ToLower(scheme)
	if scheme == "http" || scheme == "https" {
		u, err := url.Parse(loc)
		if err != nil {
			return "", nil, "", fmt.Errorf("path %q: %w", loc, err)
		}
		return scheme, u, u.Path, nil
	}
	authority, p, _ := strings.Cut(rest, "/")
	u, err = url.Parse(scheme + "://" + authority)
	if err != nil {
		return "", nil, "", fmt.Errorf("path %q: %w", redactString(loc), err)
	}
	return scheme, u, "/" + p, nil
}

// PathOf is the path part of a location (the local path itself), for
// naming streams and telling file types by their suffix.
func PathOf(loc string) string {
	if !Remote(loc) {
		return loc
	}
	if _, _, p, err := split(loc); err == nil {
		return p
	}
	return loc
}

// redactString hides a password written into a location URL.
func redactString(loc string) string {
	scheme, rest, _ := strings.Cut(loc, "://")
	authority, p, _ := strings.Cut(rest, "/")
	if user, host, ok := strings.Cut(authority, "@"); ok {
		if name, _, hasPass := strings.Cut(user, ":"); hasPass {
			authority = name + ":***@" + host
		}
	}
	return scheme + "://" + authority + "/" + p
}

func redact(u *url.URL) string {
	c := *u
	if _, ok := c.User.Password(); ok {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// Close closes every client the resolver opened.
func (r *Resolver) Close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for k, f := range r.fss {
		errs = append(errs, f.Close())
		delete(r.fss, k)
	}
	return errors.Join(errs...)
}

// tlsConfig trusts the system roots plus opts.CAFile.
func tlsConfig(opts Options) (*tls.Config, error) {
	if opts.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(opts.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", opts.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func transport(opts Options) (*http.Transport, error) {
	tc, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// A server that accepts a request and never answers would hold a run
	// forever; bodies may take as long as they need.
	t.ResponseHeaderTimeout = 2 * time.Minute
	if tc != nil {
		t.TLSClientConfig = tc
	}
	return t, nil
}
