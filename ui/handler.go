package ui

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// notBuilt is served at / by a binary built before the UI was.
const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tributary</title></head>
<body><main><h1>UI not built: run make ui</h1>
<p>This binary was built without the web interface. Run <code>make ui</code> (or <code>make run</code>) and build the binary again.
The API answers at <a href="/api/docs">/api/docs</a>.</p></main></body></html>
`

// reserved are the server's own paths: a missing one there is a 404, never
// the application page.
var reserved = []string{"/api/", "/metrics", "/healthz", "/readyz"}

// Handler serves the built UI from the embedded dist/ folder.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid name, and "dist" is valid.
		panic(err)
	}
	return NewHandler(sub)
}

// NewHandler serves a single-page application from files: a path naming a
// file serves it, any other path serves index.html so the client-side router
// can show it.
func NewHandler(files fs.FS) http.Handler {
	index, err := fs.ReadFile(files, "index.html")
	built := err == nil
	modTime := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range reserved {
			if r.URL.Path == strings.TrimSuffix(p, "/") || strings.HasPrefix(r.URL.Path, p) {
				http.NotFound(w, r)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !built {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(notBuilt))
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(files, name); err == nil && !st.IsDir() {
				// Vite names built assets by content hash, so they never change.
				if strings.HasPrefix(name, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				http.ServeFileFS(w, r, files, name)
				return
			}
			if path.Ext(name) != "" {
				// A missing file (an old asset, a typo) is a 404, not the page.
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(index))
	})
}
