package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-data/tributary/connector"
)

// copyHeader starts every PGCOPY binary stream: signature, flags, no
// header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer is the field count -1 that ends the stream.
var copyTrailer = []byte{0xff, 0xff}

// pgEpoch is 2000-01-01 UTC, the zero of PostgreSQL dates and timestamps.
const (
	pgEpochUnix   = 946684800
	pgEpochMicros = pgEpochUnix * 1_000_000
)

// appendValue appends one field (length word and payload) holding v for a
// column of kind k. Values whose Go type matches the column take the fast
// path; others are converted through connector.Convert, and a value that
// does not convert is an error for the caller to quarantine the row with.
func appendValue(buf []byte, k kind, v any) ([]byte, error) {
	if v == nil {
		return binary.BigEndian.AppendUint32(buf, math.MaxUint32), nil
	}
	switch k {
	case kInt8:
		if x, ok := v.(int64); ok {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(x)), nil
		}
	case kText:
		if x, ok := v.(string); ok {
			return appendText(buf, x)
		}
	case kNumeric:
		if x, ok := v.(connector.Decimal); ok {
			return appendNumeric(buf, x), nil
		}
	case kFloat8:
		if x, ok := v.(float64); ok {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, math.Float64bits(x)), nil
		}
	case kTimestamp:
		if x, ok := v.(time.Time); ok {
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(x.UnixMicro()-pgEpochMicros)), nil
		}
	case kBool:
		if x, ok := v.(bool); ok {
			b := byte(0)
			if x {
				b = 1
			}
			return append(binary.BigEndian.AppendUint32(buf, 1), b), nil
		}
	}
	return appendConverted(buf, k, v)
}

func appendText(buf []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return buf, errors.New("invalid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return buf, errors.New("text holds a NUL byte, which PostgreSQL text cannot store")
		}
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...), nil
}

// appendConverted is the slow path: the value's type differs from the
// column's, because the table predates the stream or the policy kept a
// narrower column.
func appendConverted(buf []byte, k kind, v any) ([]byte, error) {
	switch k {
	case kBool:
		x, err := connector.Convert(connector.TypeBool, v)
		if err != nil {
			return buf, err
		}
		return appendValue(buf, kBool, x)
	case kInt2, kInt4, kInt8:
		x, err := connector.Convert(connector.TypeInt64, v)
		if err != nil {
			return buf, err
		}
		n := x.(int64)
		switch k {
		case kInt2:
			if n < math.MinInt16 || n > math.MaxInt16 {
				return buf, fmt.Errorf("%d out of range for smallint", n)
			}
			buf = binary.BigEndian.AppendUint32(buf, 2)
			return binary.BigEndian.AppendUint16(buf, uint16(n)), nil
		case kInt4:
			if n < math.MinInt32 || n > math.MaxInt32 {
				return buf, fmt.Errorf("%d out of range for integer", n)
			}
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(n)), nil
		}
		return appendValue(buf, kInt8, n)
	case kFloat4, kFloat8:
		x, err := connector.Convert(connector.TypeFloat64, v)
		if err != nil {
			return buf, err
		}
		f := x.(float64)
		if k == kFloat4 {
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, math.Float32bits(float32(f))), nil
		}
		return appendValue(buf, kFloat8, f)
	case kNumeric:
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return buf, fmt.Errorf("%v does not fit a numeric column", f)
		}
		x, err := connector.Convert(connector.TypeDecimal, v)
		if err != nil {
			return buf, err
		}
		return appendNumeric(buf, x.(connector.Decimal)), nil
	case kText:
		x, err := connector.Convert(connector.TypeString, v)
		if err != nil {
			return buf, err
		}
		return appendText(buf, x.(string))
	case kBytea:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		default:
			return buf, fmt.Errorf("cannot store %T in bytea", v)
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		return append(buf, b...), nil
	case kDate:
		x, err := connector.Convert(connector.TypeDate, v)
		if err != nil {
			return buf, err
		}
		secs := x.(time.Time).Unix() - pgEpochUnix
		days := secs / 86400
		if secs%86400 < 0 {
			days--
		}
		buf = binary.BigEndian.AppendUint32(buf, 4)
		return binary.BigEndian.AppendUint32(buf, uint32(int32(days))), nil
	case kTimestamp:
		x, err := connector.Convert(connector.TypeTimestamp, v)
		if err != nil {
			return buf, err
		}
		return appendValue(buf, kTimestamp, x)
	case kJSON, kJSONB:
		var b []byte
		if s, ok := v.(string); ok && json.Valid([]byte(s)) {
			b = []byte(s)
		} else {
			var err error
			if b, err = json.Marshal(v); err != nil {
				return buf, fmt.Errorf("encode json: %w", err)
			}
		}
		if k == kJSONB {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)+1))
			buf = append(buf, 1) // jsonb binary format version
		} else {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		}
		return append(buf, b...), nil
	case kUUID:
		s, ok := v.(string)
		if !ok {
			return buf, fmt.Errorf("cannot store %T in uuid", v)
		}
		u, err := parseUUID(s)
		if err != nil {
			return buf, err
		}
		buf = binary.BigEndian.AppendUint32(buf, 16)
		return append(buf, u[:]...), nil
	}
	return buf, fmt.Errorf("cannot store %T in this column type", v)
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' || c == '{' || c == '}' {
			continue
		}
		h, ok := unhex(c)
		if !ok || j >= 32 {
			return u, fmt.Errorf("not a uuid: %q", s)
		}
		if j%2 == 0 {
			u[j/2] = h << 4
		} else {
			u[j/2] |= h
		}
		j++
	}
	if j != 32 {
		return u, fmt.Errorf("not a uuid: %q", s)
	}
	return u, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

var pow10x4 = [4]int16{1, 10, 100, 1000}

func floorDiv4(e int) int {
	if e >= 0 {
		return e / 4
	}
	return -((-e + 3) / 4)
}

// appendNumeric encodes d in numeric's binary form: base-10000 digits with
// a weight (the power of 10000 of the first digit), a sign and the display
// scale. It works on the decimal digits of the int64, so no math/big.
func appendNumeric(buf []byte, d connector.Decimal) []byte {
	dscale := max(int(d.Scale), 0)
	u := d.Unscaled
	if u == 0 {
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(dscale))
		return buf
	}
	neg := u < 0
	abs := uint64(u)
	if neg {
		abs = uint64(-(u + 1)) + 1
	}
	var tmp [64]byte
	digits := strconv.AppendUint(tmp[:0], abs, 10)
	scale := int(d.Scale)
	for ; scale < 0; scale++ {
		digits = append(digits, '0')
	}
	intLen := len(digits) - scale // digits before the point; may be <= 0
	weight := floorDiv4(intLen - 1)
	last := floorDiv4(-scale) // group of the last digit
	n := weight - last + 1
	var gtmp [32]int16
	var groups []int16
	if n > len(gtmp) {
		groups = make([]int16, n)
	} else {
		groups = gtmp[:n]
	}
	for i, c := range digits {
		e := intLen - 1 - i
		g := floorDiv4(e)
		groups[weight-g] += int16(c-'0') * pow10x4[e-4*g]
	}
	for n > 0 && groups[n-1] == 0 {
		n--
	}
	sign := uint16(0)
	if neg {
		sign = 0x4000
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(8+2*n))
	buf = binary.BigEndian.AppendUint16(buf, uint16(n))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for _, g := range groups[:n] {
		buf = binary.BigEndian.AppendUint16(buf, uint16(g))
	}
	return buf
}

// copyStream is one COPY FROM STDIN kept open across batches. Write encodes
// into buffers that a goroutine inside pgconn.CopyFrom sends while the next
// batch is encoded; the server parses nothing, so it only inserts.
type copyStream struct {
	bufs  chan []byte
	free  chan []byte
	abort chan struct{}
	done  chan struct{}
	cur   []byte
	held  []byte
	err   error
}

// chunk is the size at which an encoded buffer is handed to the sender.
const chunk = 256 << 10

var errCopyAborted = errors.New("copy aborted")

func startCopy(ctx context.Context, pgc *pgconn.PgConn, sql string) *copyStream {
	s := &copyStream{
		bufs:  make(chan []byte, 4),
		free:  make(chan []byte, 6),
		abort: make(chan struct{}),
		done:  make(chan struct{}),
	}
	s.free <- append(make([]byte, 0, chunk+chunk/4), copyHeader...)
	go func() {
		defer close(s.done)
		_, s.err = pgc.CopyFrom(context.WithoutCancel(ctx), s, sql)
	}()
	return s
}

// Read feeds pgconn; it is called by the sending goroutine only.
func (s *copyStream) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.held != nil {
			select {
			case s.free <- s.held[:0]:
			default:
			}
			s.held = nil
		}
		select {
		case b, ok := <-s.bufs:
			if !ok {
				return 0, io.EOF
			}
			s.cur, s.held = b, b
		case <-s.abort:
			return 0, errCopyAborted
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// buffer returns an empty buffer to encode into; the first one carries the
// stream header already.
func (s *copyStream) buffer() []byte {
	select {
	case b := <-s.free:
		return b
	default:
		return make([]byte, 0, chunk+chunk/4)
	}
}

// send hands an encoded buffer to the sender.
func (s *copyStream) send(ctx context.Context, b []byte) error {
	select {
	case s.bufs <- b:
		return nil
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("copy: %w", s.err)
		}
		return errors.New("copy ended early")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish ends the stream with its trailer and waits for the server's
// verdict on the whole COPY.
func (s *copyStream) finish(ctx context.Context, last []byte) error {
	if err := s.send(ctx, append(last, copyTrailer...)); err != nil {
		s.cancel()
		return err
	}
	close(s.bufs)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
	if s.err != nil {
		return fmt.Errorf("copy: %w", s.err)
	}
	return nil
}

// cancel makes the server abort the COPY (and with it the transaction).
func (s *copyStream) cancel() {
	select {
	case <-s.abort:
	default:
		close(s.abort)
	}
	<-s.done
}
