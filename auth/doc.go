// Package auth owns the credentials of Tributary: password hashing
// (argon2id) and strength rules, signed short-lived access tokens (JWT),
// the opaque tokens (refresh, API, one-time) that are stored only as
// hashes, and the login rate limiter with temporary lockout.
package auth
