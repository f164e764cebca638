package filesource

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BufferSize is the read buffer of an opened file: large enough that a
// parser works on long runs of bytes without refilling.
const BufferSize = 1 << 20

// File identifies one file of a stream as it was when the pattern was
// expanded. Size and modification time tell an unchanged file from a
// rewritten one between runs.
type File struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime"` // Unix nanoseconds
}

// Same reports whether f and o are the same file with the same contents,
// as far as size and modification time tell.
func (f File) Same(o File) bool { return f == o }

// Gzip reports whether the file is read through gzip.
func (f File) Gzip() bool { return strings.HasSuffix(strings.ToLower(f.Path), ".gz") }

// Expand returns the regular files matching pattern, sorted by path so every
// run reads them in the same order. A pattern without glob characters names
// one file, which must exist.
func Expand(pattern string) ([]File, error) {
	if pattern == "" {
		return nil, fmt.Errorf("no path configured")
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", pattern, err)
	}
	if len(matches) == 0 && !hasMeta(pattern) {
		if _, err := os.Stat(pattern); err != nil {
			return nil, fmt.Errorf("path %q: %w", pattern, err)
		}
	}
	sort.Strings(matches)
	files := make([]File, 0, len(matches))
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", m, err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, File{Path: m, Size: fi.Size(), ModTime: fi.ModTime().UnixNano()})
	}
	return files, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

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
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Path, err)
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
	} else if offset > 0 {
		if _, err := fh.Seek(offset, io.SeekStart); err != nil {
			fh.Close()
			return nil, fmt.Errorf("seek %s: %w", f.Path, err)
		}
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

// ReadAll returns the whole decompressed content of f, without a BOM, for
// formats that parse a document at once.
func ReadAll(f File) ([]byte, error) {
	r, err := Open(f, 0)
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
	base := filepath.Base(pattern)
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
