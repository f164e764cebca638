package postgres

import (
	"github.com/tributary-data/tributary/connector"
)

// kind is how the loader encodes a value for a column's actual type, which
// may differ from the stream's type when the table already existed.
type kind uint8

const (
	kUnknown kind = iota
	kBool
	kInt2
	kInt4
	kInt8
	kFloat4
	kFloat8
	kNumeric
	kText
	kBytea
	kDate
	kTimestamp // timestamp and timestamptz share the binary form
	kJSON
	kJSONB
	kUUID
)

// kindOf maps a pg_type.typname to its encoding.
func kindOf(typname string) kind {
	switch typname {
	case "bool":
		return kBool
	case "int2":
		return kInt2
	case "int4":
		return kInt4
	case "int8":
		return kInt8
	case "float4":
		return kFloat4
	case "float8":
		return kFloat8
	case "numeric":
		return kNumeric
	case "text", "varchar", "bpchar", "name", "citext":
		return kText
	case "bytea":
		return kBytea
	case "date":
		return kDate
	case "timestamp", "timestamptz":
		return kTimestamp
	case "json":
		return kJSON
	case "jsonb":
		return kJSONB
	case "uuid":
		return kUUID
	}
	return kUnknown
}

// pgType is the column type a table created from a stream gets.
func pgType(t connector.Type) string {
	switch t {
	case connector.TypeBool:
		return "boolean"
	case connector.TypeInt64:
		return "bigint"
	case connector.TypeFloat64:
		return "double precision"
	case connector.TypeDecimal:
		return "numeric"
	case connector.TypeBytes:
		return "bytea"
	case connector.TypeDate:
		return "date"
	case connector.TypeTimestamp:
		return "timestamptz"
	case connector.TypeJSON:
		return "jsonb"
	}
	return "text"
}

// logical is the SDK type a column of kind k holds; the source maps
// columns with it and the destination widens from it.
func logical(k kind) connector.Type {
	switch k {
	case kBool:
		return connector.TypeBool
	case kInt2, kInt4, kInt8:
		return connector.TypeInt64
	case kFloat4, kFloat8:
		return connector.TypeFloat64
	case kNumeric:
		return connector.TypeDecimal
	case kBytea:
		return connector.TypeBytes
	case kDate:
		return connector.TypeDate
	case kTimestamp:
		return connector.TypeTimestamp
	case kJSON, kJSONB:
		return connector.TypeJSON
	}
	return connector.TypeString
}

// fits reports whether a column of kind k holds every value of type t
// without loss, so no ALTER is needed.
func fits(k kind, t connector.Type) bool {
	if k == kText {
		return t != connector.TypeBytes
	}
	switch t {
	case connector.TypeBool:
		return k == kBool
	case connector.TypeInt64:
		return k == kInt8 || k == kNumeric
	case connector.TypeFloat64:
		return k == kFloat8
	case connector.TypeDecimal:
		return k == kNumeric
	case connector.TypeString:
		return k == kUUID
	case connector.TypeBytes:
		return k == kBytea
	case connector.TypeDate:
		return k == kDate || k == kTimestamp
	case connector.TypeTimestamp:
		return k == kTimestamp
	case connector.TypeJSON:
		return k == kJSON || k == kJSONB
	}
	return false
}

// maxIdent is PostgreSQL's NAMEDATALEN-1: longer identifiers are cut.
const maxIdent = 63

// truncIdent cuts name the way the server does, at a character boundary,
// so a long stream or column name is found again after creation.
func truncIdent(name string) string {
	if len(name) <= maxIdent {
		return name
	}
	n := maxIdent
	for n > 0 && name[n]&0xC0 == 0x80 {
		n--
	}
	return name[:n]
}
