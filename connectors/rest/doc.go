// Package rest is the declarative source for JSON APIs. A config names a
// base URL, an authentication method and, per stream, a path, a record
// selector (JSONPath), a pagination style, an incremental request
// parameter and optionally a parent stream whose records fill the path.
//
// The package owns the HTTP side every API connector shares: the [Client]
// (authentication including OAuth2 token refresh, a request rate limit,
// retries of 429 and 5xx answers with exponential backoff and jitter that
// honour Retry-After, per-request timeouts), the page loop with a state
// checkpoint after every page, and schema inference from sampled records.
// Vendor connectors (salesforce, hubspot) build a [Config] in Go and plug
// their specifics in through [Options].
package rest
