// Package location owns where the file connectors read and write: one
// [FS] interface (list, stat, ranged open, create, rename, remove, atomic
// replace, append) over local paths, S3-compatible object stores
// (s3://bucket/key), SFTP servers (sftp://user@host:port/path) and plain
// HTTPS URLs (read only). A [Resolver] turns a path or URL into the file
// system that serves it and the path inside it, keeping one client per
// bucket or server for as long as the connector lives.
//
// The file systems differ where their protocols do, and the callers ask
// rather than guess: [FS.DirectCreate] tells a writer that a created file
// becomes visible only whole (S3), so it can be written under its final
// name instead of being renamed into place.
package location
