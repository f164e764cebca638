package location

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpFS reads single files by URL with plain GETs. It has no listing, so
// no globs, and it cannot write.
type httpFS struct {
	c       *http.Client
	headers map[string]string
}

var errReadOnly = errors.New("https locations are read only")

func newHTTP(opts Options) (*httpFS, error) {
	tr, err := transport(opts)
	if err != nil {
		return nil, err
	}
	return &httpFS{c: &http.Client{Transport: tr}, headers: opts.HTTPHeaders}, nil
}

func (h *httpFS) URL(p string) string        { return p }
func (h *httpFS) Join(elem ...string) string { return elem[len(elem)-1] }
func (h *httpFS) DirectCreate() bool         { return false }
func (h *httpFS) Close() error {
	h.c.CloseIdleConnections()
	return nil
}

func (h *httpFS) do(ctx context.Context, method, u string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	// The bytes as stored: offsets and sizes then mean the same in every
	// request, and servers keep the strong ETag a compressed variant
	// would weaken.
	req.Header.Set("Accept-Encoding", "identity")
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, notExist(method, u, errors.New(resp.Status))
	case resp.StatusCode == http.StatusPreconditionFailed:
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: changed since it was listed", method, u)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && hdr["Range"] != "":
		// Resuming at the very end of the file: nothing is left.
		resp.Body.Close()
		resp.StatusCode, resp.Body = http.StatusPartialContent, io.NopCloser(bytes.NewReader(nil))
	case resp.StatusCode >= 300:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(body))
	}
	return resp, nil
}

// infoOfResponse reads size and version from response headers. A server
// that sends neither ETag nor Last-Modified gives no way to tell an
// unchanged file, so the fetch time stands in and the file reads as
// changed on every run.
func infoOfResponse(u string, resp *http.Response) Info {
	in := Info{Path: u, Size: resp.ContentLength, ETag: resp.Header.Get("ETag")}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		in.ModTime = t
	}
	if in.ETag == "" && in.ModTime.IsZero() {
		in.ModTime = time.Now()
	}
	return in
}

// Stat asks with HEAD, falling back to a GET for servers that refuse it.
func (h *httpFS) Stat(ctx context.Context, u string) (Info, error) {
	resp, err := h.do(ctx, http.MethodHead, u, nil)
	if err != nil {
		// Every HEAD failure is retried as a GET, whose answer is the
		// one reported.
		resp, err = h.do(ctx, http.MethodGet, u, nil)
	}
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	return infoOfResponse(u, resp), nil
}

// Glob takes the URL as one file: a query's '?' is no glob.
func (h *httpFS) Glob(ctx context.Context, u string) ([]Info, error) {
	in, err := h.Stat(ctx, u)
	if err != nil {
		return nil, err
	}
	return []Info{in}, nil
}

// Open asks for the bytes from offset with a Range request, guarded by
// the ETag when known. A server that ignores ranges sends the whole body,
// whose head is then skipped.
func (h *httpFS) Open(ctx context.Context, u string, offset int64, want Info) (io.ReadCloser, error) {
	hdr := map[string]string{}
	if want.ETag != "" && !strings.HasPrefix(want.ETag, "W/") {
		// If-Match compares strongly: a weak ETag would never match.
		hdr["If-Match"] = want.ETag
	}
	if offset > 0 {
		hdr["Range"] = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	resp, err := h.do(ctx, http.MethodGet, u, hdr)
	if err != nil {
		return nil, err
	}
	if offset > 0 && resp.StatusCode != http.StatusPartialContent {
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: skip to offset %d: %w", u, offset, err)
		}
	}
	return resp.Body, nil
}

type bytesReaderAt struct {
	*bytes.Reader
}

func (bytesReaderAt) Close() error { return nil }

// OpenReaderAt downloads the file into memory: random access over plain
// HTTP would cost a request per read.
func (h *httpFS) OpenReaderAt(ctx context.Context, u string) (ReaderAt, error) {
	b, err := h.ReadFile(ctx, u)
	if err != nil {
		return nil, err
	}
	return bytesReaderAt{bytes.NewReader(b)}, nil
}

func (h *httpFS) ReadFile(ctx context.Context, u string) ([]byte, error) {
	r, err := h.Open(ctx, u, 0, Info{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return b, nil
}

func (h *httpFS) ReadDir(context.Context, string) ([]Entry, error) { return nil, errReadOnly }
func (h *httpFS) MkdirAll(context.Context, string) error           { return errReadOnly }
func (h *httpFS) Create(context.Context, string) (Writer, error)   { return nil, errReadOnly }
func (h *httpFS) Rename(context.Context, string, string) error     { return errReadOnly }
func (h *httpFS) Remove(context.Context, string) error             { return errReadOnly }
func (h *httpFS) WriteFile(context.Context, string, string, []byte) error {
	return errReadOnly
}
func (h *httpFS) OpenAppend(context.Context, string) (Appender, error) { return nil, errReadOnly }
func (h *httpFS) Truncate(context.Context, string, int64) error        { return errReadOnly }
