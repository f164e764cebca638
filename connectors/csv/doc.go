// Package csv is the CSV connector. The source (source*.go) reads delimited
// text files matched by a path pattern, gzip-compressed or not, with a
// hand-written streaming parser that converts fields to typed values
// straight from the read buffer; types are inferred from a sample of the
// first file and can be overridden per stream. Records it cannot read are
// rejected with their file and line, never dropped. The destination
// (destination*.go) writes RFC 4180 files through filesink.
package csv
