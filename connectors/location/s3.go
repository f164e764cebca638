package location

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3PartSize bounds the memory of an upload of unknown length: minio-go
// buffers one part at a time. 16 MiB parts allow objects up to 160 GB.
const s3PartSize = 16 << 20

// s3FS is one bucket of an S3-compatible store; paths are object keys.
type s3FS struct {
	c      *minio.Client
	bucket string
}

func newS3(opts Options, bucket string) (*s3FS, error) {
	endpoint, secure := opts.S3Endpoint, true
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("s3_endpoint: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("s3_endpoint %q: scheme must be http or https", endpoint)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	tr, err := transport(opts)
	if err != nil {
		return nil, err
	}
	mo := &minio.Options{Secure: secure, Region: opts.S3Region, Transport: tr}
	if opts.S3AccessKeyID != "" || opts.S3SecretAccessKey != "" {
		mo.Creds = credentials.NewStaticV4(opts.S3AccessKeyID, opts.S3SecretAccessKey, "")
	} else {
		// The usual environment variables, read here and nowhere else
		// (no instance metadata lookups); without them, anonymous
		// requests for public buckets.
		mo.Creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	}
	if opts.S3PathStyle {
		mo.BucketLookup = minio.BucketLookupPath
	}
	c, err := minio.New(endpoint, mo)
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return &s3FS{c: c, bucket: bucket}, nil
}

func (s *s3FS) URL(p string) string        { return "s3://" + s.bucket + "/" + p }
func (s *s3FS) Join(elem ...string) string { return strings.TrimPrefix(path.Join(elem...), "/") }
func (s *s3FS) DirectCreate() bool         { return true }
func (s *s3FS) Close() error               { return nil }

// MkdirAll does nothing: keys need no directories.
func (s *s3FS) MkdirAll(context.Context, string) error { return nil }

func (s *s3FS) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return notExist(op, s.URL(p), err)
	}
	return fmt.Errorf("%s %s: %w", op, s.URL(p), err)
}

func objInfo(o minio.ObjectInfo) Info {
	return Info{Path: o.Key, Size: o.Size, ModTime: o.LastModified, ETag: o.ETag}
}

func (s *s3FS) Stat(ctx context.Context, p string) (Info, error) {
	o, err := s.c.StatObject(ctx, s.bucket, p, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.wrap("stat", p, err)
	}
	return objInfo(o), nil
}

func (s *s3FS) Glob(ctx context.Context, pattern string) ([]Info, error) {
	if !HasMeta(pattern) {
		in, err := s.Stat(ctx, pattern)
		if err != nil {
			return nil, err
		}
		return []Info{in}, nil
	}
	var all []Info
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: globPrefix(pattern), Recursive: true}) {
		if o.Err != nil {
			return nil, s.wrap("list", globPrefix(pattern), o.Err)
		}
		if !strings.HasSuffix(o.Key, "/") {
			all = append(all, objInfo(o))
		}
	}
	out, err := matchAll(pattern, all)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", s.URL(pattern), err)
	}
	return out, nil
}

func (s *s3FS) get(ctx context.Context, p string, offset int64, etag string) (*minio.Object, minio.ObjectInfo, error) {
	var o minio.GetObjectOptions
	if etag != "" {
		if err := o.SetMatchETag(etag); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	if offset > 0 {
		if err := o.SetRange(offset, 0); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	obj, err := s.c.GetObject(ctx, s.bucket, p, o)
	if err != nil {
		return nil, minio.ObjectInfo{}, s.wrap("open", p, err)
	}
	// The request is sent lazily: Stat sends it, so a missing or
	// changed object fails here rather than at the first read.
	st, err := obj.Stat()
	if err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).Code == "PreconditionFailed" {
			return nil, st, fmt.Errorf("open %s: changed since it was listed (etag is no longer %s)", s.URL(p), etag)
		}
		return nil, st, s.wrap("open", p, err)
	}
	return obj, st, nil
}

func (s *s3FS) Open(ctx context.Context, p string, offset int64, want Info) (io.ReadCloser, error) {
	obj, _, err := s.get(ctx, p, offset, want.ETag)
	if err != nil {
		if offset > 0 && minio.ToErrorResponse(errors.Unwrap(err)).Code == "InvalidRange" {
			// Resuming at the very end of the object: nothing is left.
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, err
	}
	return obj, nil
}

type s3ReaderAt struct {
	*minio.Object
	size int64
}

func (r s3ReaderAt) Size() int64 { return r.size }

func (s *s3FS) OpenReaderAt(ctx context.Context, p string) (ReaderAt, error) {
	obj, st, err := s.get(ctx, p, 0, "")
	if err != nil {
		return nil, err
	}
	return s3ReaderAt{obj, st.Size}, nil
}

// ReadDir lists the keys one level under dir: common prefixes are
// directories. A prefix holding nothing is an empty directory, as S3 has
// no other kind.
func (s *s3FS) ReadDir(ctx context.Context, dir string) ([]Entry, error) {
	prefix := strings.TrimSuffix(dir, "/")
	if prefix != "" {
		prefix += "/"
	}
	var out []Entry
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if o.Err != nil {
			return nil, s.wrap("list", dir, o.Err)
		}
		name := strings.TrimPrefix(o.Key, prefix)
		if isDir := strings.HasSuffix(name, "/"); isDir {
			out = append(out, Entry{Name: strings.TrimSuffix(name, "/"), Dir: true})
		} else if name != "" {
			out = append(out, Entry{Name: name})
		}
	}
	return out, nil
}

// s3Writer streams an upload; the object appears whole when it completes.
type s3Writer struct {
	pw       *io.PipeWriter
	done     chan error
	n        int64
	finished bool
	err      error // the upload's outcome, once finished
}

// wait returns the upload's outcome; it may be called more than once.
func (w *s3Writer) wait() error {
	if !w.finished {
		w.err, w.finished = <-w.done, true
	}
	return w.err
}

func (s *s3FS) Create(ctx context.Context, p string) (Writer, error) {
	pr, pw := io.Pipe()
	w := &s3Writer{pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := s.c.PutObject(ctx, s.bucket, p, pr, -1, minio.PutObjectOptions{PartSize: s3PartSize, ContentType: "application/octet-stream"})
		pr.CloseWithError(err)
		w.done <- s.wrap("upload", p, err)
	}()
	return w, nil
}

func (w *s3Writer) Write(b []byte) (int, error) {
	n, err := w.pw.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *s3Writer) Commit() (int64, error) {
	w.pw.Close()
	if err := w.wait(); err != nil {
		return 0, err
	}
	return w.n, nil
}

// Abort stops an upload in flight, which then leaves nothing behind; a
// committed upload stays.
func (w *s3Writer) Abort() error {
	w.pw.CloseWithError(errors.New("upload aborted"))
	w.wait()
	return nil
}

// AbortUploads aborts the multipart uploads under dir that a killed
// writer left: S3 keeps (and bills) their parts until then.
func (s *s3FS) AbortUploads(ctx context.Context, dir string) error {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	// The whole bucket is listed and filtered here: MinIO lists uploads
	// by exact key only, not by prefix.
	for u := range s.c.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			return s.wrap("list uploads", prefix, u.Err)
		}
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		if err := s.c.RemoveIncompleteUpload(ctx, s.bucket, u.Key); err != nil {
			return s.wrap("abort upload", u.Key, err)
		}
	}
	return nil
}

// Rename copies the object and removes the source: S3 has no rename.
func (s *s3FS) Rename(ctx context.Context, from, to string) error {
	_, err := s.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: to}, minio.CopySrcOptions{Bucket: s.bucket, Object: from})
	if err != nil {
		return s.wrap("copy", from, err)
	}
	return s.Remove(ctx, from)
}

func (s *s3FS) Remove(ctx context.Context, p string) error {
	return s.wrap("remove", p, s.c.RemoveObject(ctx, s.bucket, p, minio.RemoveObjectOptions{}))
}

func (s *s3FS) ReadFile(ctx context.Context, p string) ([]byte, error) {
	obj, _, err := s.get(ctx, p, 0, "")
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.wrap("read", p, err)
	}
	return b, nil
}

// WriteFile puts the object in one request, which S3 makes visible
// atomically.
func (s *s3FS) WriteFile(ctx context.Context, p, _ string, data []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, p, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "application/octet-stream"})
	return s.wrap("write", p, err)
}

// Truncate rewrites the object with its first size bytes.
func (s *s3FS) Truncate(ctx context.Context, p string, size int64) error {
	b, err := s.ReadFile(ctx, p)
	if err != nil {
		return err
	}
	if int64(len(b)) <= size {
		return nil
	}
	return s.WriteFile(ctx, p, "", b[:size])
}

// s3Appender keeps appended bytes in memory until Sync, which rewrites the
// object with them at its end: S3 objects cannot grow in place, so a
// sync costs a read and a write of the whole object. It suits small,
// rarely written files (quarantine records), not data.
type s3Appender struct {
	s   *s3FS
	ctx context.Context
	p   string
	buf bytes.Buffer
}

func (s *s3FS) OpenAppend(ctx context.Context, p string) (Appender, error) {
	return &s3Appender{s: s, ctx: ctx, p: p}, nil
}

func (a *s3Appender) Write(b []byte) (int, error) { return a.buf.Write(b) }

func (a *s3Appender) Sync() error {
	if a.buf.Len() == 0 {
		return nil
	}
	old, err := a.s.ReadFile(a.ctx, a.p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := a.s.WriteFile(a.ctx, a.p, "", append(old, a.buf.Bytes()...)); err != nil {
		return err
	}
	a.buf.Reset()
	return nil
}

// Close drops what Sync did not write, as a crash would.
func (a *s3Appender) Close() error {
	a.buf.Reset()
	return nil
}
