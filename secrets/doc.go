// Package secrets owns encryption at rest: AES-256-GCM under keys from
// TRIBUTARY_SECRET_KEY or a generated key file, each ciphertext naming its
// key so keys can be rotated, and a store wrapper that encrypts the secret
// fields of connection and alert channel configs on write and decrypts
// them on read.
package secrets
