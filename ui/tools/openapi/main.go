// Command openapi prints the server's OpenAPI document, built from the same
// route registrations `tributary serve` uses, without a store or a listener:
// `make ui-client` generates the UI's typed client from it.
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/tributary-data/tributary/api"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	// Only the document route is called, so no store is needed.
	h := api.New(api.Config{Version: "dev"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("GET /api/openapi.json: status %d: %s", rec.Code, rec.Body.String())
	}
	_, err := w.Write(rec.Body.Bytes())
	return err
}
