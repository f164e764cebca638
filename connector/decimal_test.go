package connector

import (
	"errors"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	cases := []struct {
		in      string
		want    Decimal
		text    string
		wantErr error
	}{
		{"12.50", Decimal{1250, 2}, "12.50", nil},
		{"-0.05", Decimal{-5, 2}, "-0.05", nil},
		{"+3", Decimal{3, 0}, "3", nil},
		{".5", Decimal{5, 1}, "0.5", nil},
		{"1e3", Decimal{1000, 0}, "1000", nil},
		{"1.5E-2", Decimal{15, 3}, "0.015", nil},
		{"000123.4500", Decimal{1234500, 4}, "123.4500", nil},
		{"999999999999999999", Decimal{999999999999999999, 0}, "999999999999999999", nil},
		{"1234567890123456789", Decimal{}, "", ErrDecimalRange},
		{"12.500000000000000000", Decimal{125000000000000000, 16}, "12.5000000000000000", nil},
		{"1.5e2", Decimal{150, 0}, "150", nil},
		{"0.000", Decimal{0, 3}, "0.000", nil},
		{"12,5", Decimal{}, "", errSyntax},
		{"", Decimal{}, "", errSyntax},
		{"-", Decimal{}, "", errSyntax},
		{"1.2.3", Decimal{}, "", errSyntax},
	}
	for _, c := range cases {
		got, err := ParseDecimal(c.in)
		switch {
		case c.wantErr == ErrDecimalRange && !errors.Is(err, ErrDecimalRange):
			t.Errorf("%q: err = %v, want range error", c.in, err)
		case c.wantErr == errSyntax && err == nil:
			t.Errorf("%q: no error", c.in)
		case c.wantErr == nil && (err != nil || got != c.want || got.String() != c.text):
			t.Errorf("%q = %+v %q, %v; want %+v %q", c.in, got, got.String(), err, c.want, c.text)
		}
	}
}

var errSyntax = errors.New("syntax")

func TestDecimalRescaleAndCmp(t *testing.T) {
	d, _ := ParseDecimal("2.345")
	for _, c := range []struct {
		scale int32
		want  string
	}{{2, "2.35"}, {0, "2"}, {5, "2.34500"}} {
		r, err := d.Rescale(c.scale)
		if err != nil || r.String() != c.want {
			t.Errorf("rescale %d = %s, %v; want %s", c.scale, r, err, c.want)
		}
	}
	n, _ := ParseDecimal("-2.345")
	if r, _ := n.Rescale(2); r.String() != "-2.35" {
		t.Errorf("negative rounding = %s", r)
	}
	a, _ := ParseDecimal("1.10")
	b, _ := ParseDecimal("1.1")
	if a.Cmp(b) != 0 || a.Cmp(d) != -1 || d.Cmp(a) != 1 {
		t.Error("cmp")
	}
}

func TestInferType(t *testing.T) {
	cases := []struct {
		in   []string
		want Type
	}{
		{[]string{"1", "2", ""}, TypeInt64},
		{[]string{"1.50", "2"}, TypeDecimal},
		{[]string{"1e5", "2.5"}, TypeFloat64},
		{[]string{"true", "FALSE"}, TypeBool},
		{[]string{"2026-01-02 03:04:05", "2026-01-02T03:04:05Z"}, TypeTimestamp},
		{[]string{"abc", "1"}, TypeString},
		{[]string{"", ""}, TypeString},
	}
	for _, c := range cases {
		if got := InferType(c.in); got != c.want {
			t.Errorf("%v = %s, want %s", c.in, got, c.want)
		}
	}
}
