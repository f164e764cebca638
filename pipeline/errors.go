package pipeline

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a spec, at a path such as
// "transforms[1].cast.amount" and, for files, a line.
type FieldError struct {
	Path string `json:"path"`
	Line int    `json:"line,omitempty"`
	Msg  string `json:"message"`
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a spec; validation reports all of them,
// not just the first.
type Errors []FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// FieldError returns a problem at path with the path's line in the parsed
// file, for checks made outside this package (against a source's schema).
func (s *Spec) FieldError(path, msg string) FieldError {
	return FieldError{Path: path, Line: s.lines.Line(path), Msg: msg}
}

// StepPath is the spec path of the i-th step of a stream's chain as
// [Spec.Steps] builds it: pipeline-wide steps first, then the stream's.
func (s *Spec) StepPath(stream string, i int) string {
	if i < len(s.Transforms) {
		return fmt.Sprintf("transforms[%d].%s", i, s.Transforms[i].Name)
	}
	i -= len(s.Transforms)
	for k, st := range s.Source.Streams {
		if st.Name == stream && i < len(st.Transforms) {
			return fmt.Sprintf("source.streams[%d].transforms[%d].%s", k, i, st.Transforms[i].Name)
		}
	}
	return ""
}
