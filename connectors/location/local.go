package location

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/tributary-data/tributary/internal/atomicfile"
)

// localFS is the machine's own file system.
type localFS struct{}

func (localFS) URL(p string) string        { return p }
func (localFS) Join(elem ...string) string { return filepath.Join(elem...) }
func (localFS) DirectCreate() bool         { return false }
func (localFS) Close() error               { return nil }
func (localFS) MkdirAll(_ context.Context, dir string) error {
	return os.MkdirAll(dir, 0o755)
}
func (localFS) Remove(_ context.Context, p string) error { return os.Remove(p) }
func (localFS) Rename(_ context.Context, from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(to))
}
func (localFS) ReadFile(_ context.Context, p string) ([]byte, error) { return os.ReadFile(p) }
func (localFS) Truncate(_ context.Context, p string, size int64) error {
	return os.Truncate(p, size)
}

func (localFS) WriteFile(_ context.Context, p, tmpPrefix string, data []byte) error {
	return atomicfile.Write(filepath.Dir(p), filepath.Base(p), tmpPrefix, data)
}

func infoOf(p string, fi os.FileInfo) Info {
	return Info{Path: p, Size: fi.Size(), ModTime: fi.ModTime()}
}

func (localFS) Glob(_ context.Context, pattern string) ([]Info, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", pattern, err)
	}
	if len(matches) == 0 && !HasMeta(pattern) {
		if _, err := os.Stat(pattern); err != nil {
			return nil, fmt.Errorf("path %q: %w", pattern, err)
		}
	}
	sort.Strings(matches)
	out := make([]Info, 0, len(matches))
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", m, err)
		}
		if fi.Mode().IsRegular() {
			out = append(out, infoOf(m, fi))
		}
	}
	return out, nil
}

func (localFS) Stat(_ context.Context, p string) (Info, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return Info{}, err
	}
	return infoOf(p, fi), nil
}

func (localFS) Open(_ context.Context, p string, offset int64, _ Info) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

type localReaderAt struct {
	*os.File
	size int64
}

func (r localReaderAt) Size() int64 { return r.size }

func (localFS) OpenReaderAt(_ context.Context, p string) (ReaderAt, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return localReaderAt{f, st.Size()}, nil
}

func (localFS) ReadDir(_ context.Context, dir string) ([]Entry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = Entry{Name: e.Name(), Dir: e.IsDir()}
	}
	return out, nil
}

type localWriter struct{ f *os.File }

func (localFS) Create(_ context.Context, p string) (Writer, error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &localWriter{f}, nil
}

func (w *localWriter) Write(b []byte) (int, error) { return w.f.Write(b) }

func (w *localWriter) Commit() (int64, error) {
	err := w.f.Sync()
	var size int64
	if err == nil {
		var st os.FileInfo
		if st, err = w.f.Stat(); err == nil {
			size = st.Size()
		}
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return size, err
}

func (w *localWriter) Abort() error {
	w.f.Close()
	return os.Remove(w.f.Name())
}

func (localFS) OpenAppend(_ context.Context, p string) (Appender, error) {
	return os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}
