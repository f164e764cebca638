package api

import (
	"net/http"
	"slices"
	"strconv"
)

// DefaultMaxBody bounds request bodies unless AuthConfig.MaxBodyBytes says
// otherwise; pipeline specs and connection configs are far smaller.
const DefaultMaxBody = 8 << 20

// Hardening settings, read from AuthConfig when set.
type hardening struct {
	origins []string
	maxBody int64
}

// harden wraps the handler with security headers, the CORS allow-list and
// the request body limit. The headers apply whether or not auth is on.
func harden(next http.Handler, cfg *AuthConfig) http.Handler {
	h := hardening{maxBody: DefaultMaxBody}
	if cfg != nil {
		h.origins = cfg.CORSOrigins
		if cfg.MaxBodyBytes > 0 {
			h.maxBody = cfg.MaxBodyBytes
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		// The reference page sets its own policy for its renderer.
		if r.URL.Path != "/api/docs" {
			hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
		}
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(h.origins, origin) {
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Credentials", "true")
			hd.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+csrfHeader)
				hd.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if r.Body != nil && r.ContentLength > h.maxBody {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"title":"Request Entity Too Large","status":413,"detail":"request body exceeds ` + strconv.FormatInt(h.maxBody, 10) + ` bytes"}`))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		next.ServeHTTP(w, r)
	})
}
