// Package xml is the XML connector. Its source reads files matched by a
// path pattern and turns every element at a record path (such as
// "catalog/book") into a row by flattening it: attributes become fields
// named after them, child elements fields named after them, nested ones
// joined with "_" (address_city), repeated ones a json array, and the text
// of an element that also has children a field "_text". Types are inferred
// from the text of a sample. An element whose values do not convert is
// rejected with its file and line; a document that is not well-formed XML
// is an error naming the file and line.
package xml
