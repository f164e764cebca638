package location

import (
	"context"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Info describes one file as its file system reports it.
type Info struct {
	// Path is the file's path inside its file system; [FS.URL] makes it
	// the name users see.
	Path    string
	Size    int64
	ModTime time.Time
	// ETag is an opaque version of the content where the store keeps one
	// (S3, HTTP); it tells a rewritten file from an unchanged one even
	// when size and time agree.
	ETag string
}

// Entry is one name in a directory listing.
type Entry struct {
	Name string
	Dir  bool
}

// FS is one place files live. Paths are in the file system's own terms:
// OS paths for local files, object keys for S3, absolute server paths for
// SFTP, whole URLs for HTTPS. A missing file is reported with an error
// that matches [fs.ErrNotExist].
type FS interface {
	// URL is how users name path: "s3://bucket/key", "sftp://u@h:22/p".
	URL(path string) string
	// Join joins path elements with the file system's separator.
	Join(elem ...string) string
	// Glob returns the files matching pattern, sorted by path. A pattern
	// without glob characters names one file, which must exist.
	Glob(ctx context.Context, pattern string) ([]Info, error)
	Stat(ctx context.Context, path string) (Info, error)
	// Open reads path from offset. A non-zero want makes the open fail
	// when the file is no longer the version listed, as far as the store
	// can tell: by ETag (S3, HTTP) or by size and modification time (SFTP).
	Open(ctx context.Context, path string, offset int64, want Info) (io.ReadCloser, error)
	// OpenReaderAt gives random access to path, for formats that read a
	// footer first (parquet).
	OpenReaderAt(ctx context.Context, path string) (ReaderAt, error)
	// ReadDir lists a directory; a missing one is fs.ErrNotExist.
	ReadDir(ctx context.Context, dir string) ([]Entry, error)
	MkdirAll(ctx context.Context, dir string) error
	// Create starts writing path; the file is complete only after the
	// writer's Commit.
	Create(ctx context.Context, path string) (Writer, error)
	// DirectCreate reports that a created file is invisible until its
	// Commit and then appears whole, as an S3 upload does.
	DirectCreate() bool
	// Rename moves from to to, replacing to.
	Rename(ctx context.Context, from, to string) error
	Remove(ctx context.Context, path string) error
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// WriteFile replaces path with data atomically: readers see the old
	// content or the new, never a part. tmpPrefix starts the name of any
	// temporary file it needs, so a cleanup can recognise leftovers.
	WriteFile(ctx context.Context, path, tmpPrefix string, data []byte) error
	// OpenAppend opens path for appending, creating it when missing.
	OpenAppend(ctx context.Context, path string) (Appender, error)
	// Truncate cuts path to size bytes.
	Truncate(ctx context.Context, path string, size int64) error
	Close() error
}

// UploadAborter is a file system where a killed writer can leave
// invisible, half-written files behind (S3's incomplete multipart
// uploads); AbortUploads drops those under dir.
type UploadAborter interface {
	AbortUploads(ctx context.Context, dir string) error
}

// ReaderAt is random read access to one file of a known size.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Writer writes one new file.
type Writer interface {
	io.Writer
	// Commit makes the file durable and complete and returns its size.
	Commit() (int64, error)
	// Abort drops a file not committed; it may follow a failed Commit
	// and be called more than once.
	Abort() error
}

// Appender appends to a file.
type Appender interface {
	io.Writer
	// Sync makes everything written so far durable.
	Sync() error
	io.Closer
}

// HasMeta reports whether p holds glob characters.
func HasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// globPrefix is the part of a slash-separated pattern before its first
// glob character: what a store can list by prefix.
func globPrefix(pattern string) string {
	i := strings.IndexAny(pattern, `*?[\`)
	if i < 0 {
		return pattern
	}
	return pattern[:i]
}

// matchAll filters infos to those whose path matches pattern (path.Match
// rules: '*' does not cross '/'), sorted by path.
func matchAll(pattern string, infos []Info) ([]Info, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	out := infos[:0]
	for _, in := range infos {
		if ok, _ := path.Match(pattern, in.Path); ok {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// notExist wraps err so that it matches fs.ErrNotExist.
func notExist(op, p string, err error) error {
	return &missing{op: op, path: p, err: err}
}

// missing is a store's own "not found" answer that also matches
// fs.ErrNotExist.
type missing struct {
	op, path string
	err      error
}

func (m *missing) Error() string        { return m.op + " " + m.path + ": not found: " + m.err.Error() }
func (m *missing) Unwrap() error        { return m.err }
func (m *missing) Is(target error) bool { return target == fs.ErrNotExist }
