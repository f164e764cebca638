package csv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tributary-data/tributary/connectors/filesource"
)

// record is one parsed CSV record. Its slices point into the parser's
// buffers and are valid until the next call to parser.record.
type record struct {
	fields [][]byte
	quoted []bool
	line   int64  // physical line where the record starts
	raw    []byte // the record's text without the final line break
	bad    string // why the record cannot be read, when it cannot
}

// rawString is the record's text for the quarantine. Invalid UTF-8 is
// replaced by U+FFFD: quarantine tables are text columns that refuse it.
func (r *record) rawString() string { return strings.ToValidUTF8(string(r.raw), "\uFFFD") }

// parser splits a byte stream into records. The common case, a line with
// no quote character, is split in place in the read buffer without copying;
// quoted fields go through a slower path that copies into its own buffers.
type parser struct {
	r            *filesource.Reader
	delim, quote byte
	offset       int64 // decompressed bytes consumed
	line         int64 // physical lines consumed

	rec      record
	unquoted []bool
	long     []byte   // a line longer than the read buffer
	pushback [][]byte // lines to read again after a broken multi-line record

	raw   []byte // slow path: the record's lines
	ends  []int  // slow path: end of each line in raw
	buf   []byte // slow path: field contents
	spans []int  // slow path: end of each field in buf
}

func newParser(r *filesource.Reader, s settings) *parser {
	return &parser{r: r, delim: s.delim, quote: s.quote, offset: r.Offset}
}

// nextLine returns the next physical line with its line break.
func (p *parser) nextLine() ([]byte, error) {
	if len(p.pushback) > 0 {
		l := p.pushback[0]
		p.pushback = p.pushback[1:]
		p.offset += int64(len(l))
		p.line++
		return l, nil
	}
	l, err := p.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		p.long = append(p.long[:0], l...)
		for errors.Is(err, bufio.ErrBufferFull) {
			l, err = p.r.ReadSlice('\n')
			p.long = append(p.long, l...)
		}
		l = p.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(l) == 0 {
		return nil, io.EOF
	}
	p.offset += int64(len(l))
	p.line++
	return l, nil
}

func eolLen(l []byte) int {
	n := len(l)
	if n > 0 && l[n-1] == '\n' {
		if n > 1 && l[n-2] == '\r' {
			return 2
		}
		return 1
	}
	return 0
}

// record reads the next record, skipping blank lines; io.EOF at the end.
func (p *parser) record() (*record, error) {
	for {
		start := p.line + 1
		l, err := p.nextLine()
		if err != nil {
			return nil, err
		}
		body := l[:len(l)-eolLen(l)]
		if len(body) == 0 {
			continue
		}
		rec := &p.rec
		rec.line, rec.bad = start, ""
		rec.raw = body
		// Only a quote opening a field makes it quoted (one inside an
		// unquoted field is kept as is), so checking each field's first
		// byte is enough to pick the fast path.
		f := rec.fields[:0]
		for {
			if len(body) > 0 && body[0] == p.quote {
				return p.slow(l)
			}
			i := bytes.IndexByte(body, p.delim)
			if i < 0 {
				f = append(f, body)
				break
			}
			f = append(f, body[:i])
			body = body[i+1:]
		}
		rec.fields = f
		if len(p.unquoted) < len(f) {
			p.unquoted = make([]bool, len(f)*2)
		}
		rec.quoted = p.unquoted[:len(f)]
		return rec, nil
	}
}

// slow parses a record holding quote characters, reading more lines while
// a quoted field spans them.
func (p *parser) slow(first []byte) (*record, error) {
	p.raw = append(p.raw[:0], first...)
	p.ends = append(p.ends[:0], len(p.raw))
	p.buf, p.spans = p.buf[:0], p.spans[:0]
	rec := &p.rec
	rec.quoted = rec.quoted[:0]
	i := 0
	bad := ""
fields:
	for {
		bodyEnd := len(p.raw) - eolLen(p.raw)
		if i < bodyEnd && p.raw[i] == p.quote {
			i++
			for {
				j := bytes.IndexByte(p.raw[i:], p.quote)
				if j < 0 {
					// The quoted field goes on past this line.
					p.buf = append(p.buf, p.raw[i:]...)
					i = len(p.raw)
					l, err := p.nextLine()
					if err == io.EOF {
						bad = "unterminated quoted field"
						break fields
					}
					if err != nil {
						return nil, err
					}
					p.raw = append(p.raw, l...)
					p.ends = append(p.ends, len(p.raw))
					continue
				}
				p.buf = append(p.buf, p.raw[i:i+j]...)
				i += j + 1
				if i < len(p.raw) && p.raw[i] == p.quote {
					p.buf = append(p.buf, p.quote)
					i++
					continue
				}
				break
			}
			p.spans = append(p.spans, len(p.buf))
			rec.quoted = append(rec.quoted, true)
			rest := p.raw[i:]
			switch {
			case len(rest) == 0 || string(rest) == "\n" || string(rest) == "\r\n":
				break fields
			case rest[0] == p.delim:
				i++
				continue
			}
			bad = fmt.Sprintf("broken quoting: %q after the closing quote of field %d", rest[0], len(p.spans))
			break fields
		}
		j := bytes.IndexByte(p.raw[i:bodyEnd], p.delim)
		if j < 0 {
			p.buf = append(p.buf, p.raw[i:bodyEnd]...)
			p.spans = append(p.spans, len(p.buf))
			rec.quoted = append(rec.quoted, false)
			break
		}
		p.buf = append(p.buf, p.raw[i:i+j]...)
		p.spans = append(p.spans, len(p.buf))
		rec.quoted = append(rec.quoted, false)
		i += j + 1
	}
	if bad != "" && len(p.ends) > 1 {
		// A quote opened on this line never closed properly: reject this
		// line alone and read the following ones again as records, so one
		// stray quote does not swallow the rest of the file.
		for k := len(p.ends) - 1; k >= 1; k-- {
			l := append([]byte(nil), p.raw[p.ends[k-1]:p.ends[k]]...)
			p.pushback = append([][]byte{l}, p.pushback...)
			p.offset -= int64(len(l))
			p.line--
		}
		p.raw = p.raw[:p.ends[0]]
		bad = "unterminated quoted field"
	}
	rec.bad = bad
	rec.raw = p.raw[:len(p.raw)-eolLen(p.raw)]
	rec.fields = rec.fields[:0]
	start := 0
	for _, end := range p.spans {
		rec.fields = append(rec.fields, p.buf[start:end])
		start = end
	}
	return rec, nil
}
