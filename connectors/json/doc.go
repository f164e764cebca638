// Package json is the JSON document connector. Its source reads files
// matched by a path pattern, each a JSON document holding an array of
// record objects: the whole document when it is an array, or the array at
// a dotted path such as "data.items". Fields are typed as the jsonl source
// types them, and an element that is not a usable object is rejected with
// its file and line; a document that is not valid JSON, or has no array at
// the path, is an error naming the file.
package json
