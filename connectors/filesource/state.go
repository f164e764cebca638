package filesource

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
)

// State is the checkpoint of one file stream. It is the same in every sync
// mode; the engine decides whether a run resumes from it.
type State struct {
	// Files lists the files read to the end, as they were then.
	Files []File `json:"files,omitempty"`
	// Current is the file being read and the position right after the last
	// record covered by the checkpoint.
	Current *Position `json:"current,omitempty"`
	// Cursor is the largest cursor value emitted so far.
	Cursor *CursorValue `json:"cursor,omitempty"`
	// Floor is the cursor as it stood when the run began: rows of a changed
	// file at or below it are skipped in incremental_append.
	Floor *CursorValue `json:"floor,omitempty"`
}

// Position is a resumable place inside a file. Formats use the fields they
// need: text formats the byte offset and line, document formats the record
// index.
type Position struct {
	File
	Mark
}

// Mark is a place inside a file's decompressed content.
type Mark struct {
	Offset int64 `json:"offset,omitempty"` // decompressed bytes consumed
	Line   int64 `json:"line,omitempty"`   // physical lines consumed
	Record int64 `json:"record,omitempty"` // records consumed, rejects included
}

// CursorValue is a cursor kept in state in its text form, with its type.
type CursorValue struct {
	Type  connector.Type `json:"type"`
	Value string         `json:"value"`
}

// ParseState decodes a checkpoint; nil or empty means the beginning.
func ParseState(raw json.RawMessage) (State, error) {
	var st State
	if len(raw) == 0 || string(raw) == "null" {
		return st, nil
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("decode file state: %w", err)
	}
	return st, nil
}

func newCursor(t connector.Type, v any) *CursorValue {
	return &CursorValue{Type: t, Value: connector.FormatValue(v)}
}

// value returns the cursor converted to type t, for comparing with rows.
func (c *CursorValue) value(t connector.Type) (any, error) {
	v, err := connector.ParseValue(c.Type, c.Value)
	if err != nil {
		return nil, err
	}
	if t == c.Type {
		return v, nil
	}
	return connector.Convert(t, v)
}

// Compare orders two values of the same SDK type; ok is false when they
// cannot be compared (different or unordered types).
func Compare(a, b any) (c int, ok bool) {
	switch x := a.(type) {
	case int64:
		if y, k := b.(int64); k {
			return cmp3(x < y, x > y), true
		}
	case float64:
		if y, k := b.(float64); k {
			return cmp3(x < y, x > y), true
		}
	case connector.Decimal:
		if y, k := b.(connector.Decimal); k {
			return x.Cmp(y), true
		}
	case string:
		if y, k := b.(string); k {
			return strings.Compare(x, y), true
		}
	case time.Time:
		if y, k := b.(time.Time); k {
			return x.Compare(y), true
		}
	case bool:
		if y, k := b.(bool); k {
			return cmp3(!x && y, x && !y), true
		}
	}
	return 0, false
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}
