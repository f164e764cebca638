// Package api owns the HTTP surface of `tributary serve`: the REST API
// under /api/v1 (code-first OpenAPI 3.1 through huma, served at
// /api/openapi.json, errors as RFC 9457 problem+json), /healthz, /readyz
// and the Prometheus /metrics endpoint.
package api
