package connector

import (
	"strconv"
	"time"
)

// Reject is a record that could not be read, transformed or loaded. It is
// never dropped: the engine writes it to the destination's quarantine with
// the reason, so nothing is lost silently.
type Reject struct {
	RunID  string    `json:"run_id"`
	Stream string    `json:"stream"`
	Origin string    `json:"origin"` // file:line, record index or primary key
	Raw    string    `json:"raw"`    // the record as read, in its original text where there was one
	Reason string    `json:"reason"`
	Step   string    `json:"step,omitempty"` // "read", "load" or the transform step that refused it
	At     time.Time `json:"at"`
}

func originString(file string, pos int64) string {
	if file == "" {
		return "#" + strconv.FormatInt(pos, 10)
	}
	return file + ":" + strconv.FormatInt(pos, 10)
}

// Origin formats a position in a file as "file:line".
func Origin(file string, line int64) string { return originString(file, line) }
