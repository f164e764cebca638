package filesource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connectors/location"
)

// BufferSize is the read buffer of an opened file: large enough that a
// parser works on long runs of bytes without refilling.
const BufferSize = 1 << 20

// File identifies one file of a stream as it was when the pattern was
// expanded. Size, modification time and, where the store keeps one, the
// ETag tell an unchanged file from a rewritten one between runs.
type File struct {
	// Path is the local path or the URL (s3://, sftp://, https://).
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime"` // Unix nanoseconds
	ETag    string `json:"etag,omitempty"`

	fs  location.FS // nil: a local file
	key string      // the path inside fs
}

// Same reports whether f and o are the same file with the same contents,
// as far as size, modification time and ETag tell.
func (f File) Same(o File) bool {
	return f.Path == o.Path && f.Size == o.Size && f.ModTime == o.ModTime && f.ETag == o.ETag
}

// Gzip reports whether the file is read through gzip.
func (f File) Gzip() bool {
	return strings.HasSuffix(strings.ToLower(location.PathOf(f.Path)), ".gz")
}

// Expand returns the regular local files matching pattern; see [ExpandIn].
func Expand(pattern string) ([]File, error) {
	return ExpandIn(context.Background(), nil, pattern)
}

// ExpandIn returns the regular files matching pattern, a local path or a
// URL resolved by r, sorted by path so every run reads them in the same
// order. A pattern without glob characters names one file, which must
// exist. Globs work on local directories, S3 prefixes and SFTP
// directories; an https:// URL always names one file.
func ExpandIn(ctx context.Context, r *location.Resolver, pattern string) ([]File, error) {
	if pattern == "" {
		return nil, fmt.Errorf("no path configured")
	}
	fsys, p, err := r.Resolve(ctx, pattern)
	if err != nil {
		return nil, err
	}
	infos, err := fsys.Glob(ctx, p)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(infos))
	for _, in := range infos {
		f := File{Path: fsys.URL(in.Path), Size: in.Size, ModTime: in.ModTime.UnixNano(), ETag: in.ETag}
		if fsys != location.Local {
			f.fs, f.key = fsys, in.Path
		}
		files = append(files, f)
	}
	return files, nil
}

// Reader reads the decompressed bytes of a file from a position.
type Reader struct {
	*bufio.Reader
	// Offset is the position in the decompressed content of the first byte
	// the reader returns: past the BOM at the start, or the resume offset.
	Offset  int64
	closers []io.Closer
}

// Close closes the file and the decompressor.
func (r *Reader) Close() error {
	var first error
	for i := len(r.closers) - 1; i >= 0; i-- {
		if err := r.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// Open opens f for reading its decompressed content from offset (0 = the
// beginning, where a UTF-8 byte order mark is skipped). Plain files seek;
// gzip files are decompressed up to offset, which is the price of resuming
// inside a compressed file.
func Open(f File, offset int64) (*Reader, error) {
	return OpenContext(context.Background(), f, offset)
}

// OpenContext is [Open] with a context that ends remote reads when it is
// done.
func OpenContext(ctx context.Context, f File, offset int64) (*Reader, error) {
	seek := offset
	if f.Gzip() {
		seek = 0
	}
	fh, err := f.open(ctx, seek)
	if err != nil {
		return nil, err
	}
	r := &Reader{closers: []io.Closer{fh}}
	var src io.Reader = fh
	if f.Gzip() {
		zr, err := gzip.NewReader(bufio.NewReaderSize(fh, 256<<10))
		if err != nil {
			fh.Close()
			return nil, fmt.Errorf("gzip %s: %w", f.Path, err)
		}
		r.closers = append(r.closers, zr)
		src = zr
	}
	r.Reader = bufio.NewReaderSize(src, BufferSize)
	switch {
	case offset > 0 && f.Gzip():
		if _, err := io.CopyN(io.Discard, r.Reader, offset); err != nil {
			r.Close()
			return nil, fmt.Errorf("skip to offset %d of %s: %w", offset, f.Path, err)
		}
		r.Offset = offset
	case offset > 0:
		r.Offset = offset
	default:
		if head, _ := r.Peek(3); bytes.Equal(head, bom) {
			r.Discard(3)
			r.Offset = 3
		}
	}
	return r, nil
}

// open opens the raw bytes of f from offset: a seek for local and SFTP
// files, a ranged request for S3 and HTTPS, guarded by the ETag so that a
// file rewritten since it was listed fails instead of mixing versions.
func (f File) open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	if f.fs == nil {
		fh, err := os.Open(f.Path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f.Path, err)
		}
		if offset > 0 {
			if _, err := fh.Seek(offset, io.SeekStart); err != nil {
				fh.Close()
				return nil, fmt.Errorf("seek %s: %w", f.Path, err)
			}
		}
		return fh, nil
	}
	want := location.Info{Path: f.key, Size: f.Size, ModTime: time.Unix(0, f.ModTime), ETag: f.ETag}
	return f.fs.Open(ctx, f.key, offset, want)
}

// OpenAt gives random access to the raw bytes of f, for formats that read
// a footer first. Over HTTPS the file is downloaded into memory.
func OpenAt(ctx context.Context, f File) (location.ReaderAt, error) {
	fsys, key := f.fs, f.key
	if fsys == nil {
		fsys, key = location.Local, f.Path
	}
	r, err := fsys.OpenReaderAt(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Path, err)
	}
	return r, nil
}

// ReadAll returns the whole decompressed content of f, without a BOM, for
// formats that parse a document at once.
func ReadAll(f File) ([]byte, error) {
	return ReadAllContext(context.Background(), f)
}

// ReadAllContext is [ReadAll] with a context that ends remote reads when
// it is done.
func ReadAllContext(ctx context.Context, f File) ([]byte, error) {
	r, err := OpenContext(ctx, f, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	}
	return b, nil
}

// StreamName derives a stream name from a path pattern: the base name
// without extensions, digits and glob characters ("./data/people*.csv.gz"
// gives "people"), or fallback when nothing is left.
func StreamName(pattern, fallback string) string {
	base := filepath.Base(location.PathOf(pattern))
	for {
		ext := filepath.Ext(base)
		if ext == "" || ext == base || strings.ContainsAny(ext, "*?[") {
			break
		}
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || strings.ContainsRune(`*?[]\{}`, r) {
			return -1
		}
		return r
	}, base)
	base = strings.Trim(base, "_-. ")
	if base == "" {
		return fallback
	}
	return base
}
