package csv

import (
	"time"
	"unsafe"

	"github.com/tributary-data/tributary/connector"
)

// boxer turns parsed values into interface values without one heap
// allocation each. Storing an int64, a Decimal, a time.Time or a string in
// an `any` normally allocates a copy per value; at eight columns and a
// million rows that is most of a load's CPU in malloc and GC. The boxer
// instead writes each value once into a slab and points the interface at
// it, the same layout the runtime builds, so the values stay ordinary
// immutable interface values to everyone downstream.
type boxer struct {
	ints   []int64
	floats []float64
	decs   []connector.Decimal
	times  []time.Time
	strs   []string
	chars  []byte

	int64Type, float64Type, decimalType, timeType, stringType unsafe.Pointer
}

// eface is the runtime layout of an empty interface.
type eface struct {
	typ, data unsafe.Pointer
}

func typeWord(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

func newBoxer() *boxer {
	return &boxer{
		int64Type:   typeWord(int64(0)),
		float64Type: typeWord(float64(0)),
		decimalType: typeWord(connector.Decimal{}),
		timeType:    typeWord(time.Time{}),
		stringType:  typeWord(""),
	}
}

const slabLen = 1024

func box(typ, data unsafe.Pointer) any {
	e := eface{typ: typ, data: data}
	return *(*any)(unsafe.Pointer(&e))
}

func (b *boxer) int64(v int64) any {
	if len(b.ints) == 0 {
		b.ints = make([]int64, slabLen)
	}
	p := &b.ints[0]
	*p = v
	b.ints = b.ints[1:]
	return box(b.int64Type, unsafe.Pointer(p))
}

func (b *boxer) float64(v float64) any {
	if len(b.floats) == 0 {
		b.floats = make([]float64, slabLen)
	}
	p := &b.floats[0]
	*p = v
	b.floats = b.floats[1:]
	return box(b.float64Type, unsafe.Pointer(p))
}

func (b *boxer) decimal(v connector.Decimal) any {
	if len(b.decs) == 0 {
		b.decs = make([]connector.Decimal, slabLen)
	}
	p := &b.decs[0]
	*p = v
	b.decs = b.decs[1:]
	return box(b.decimalType, unsafe.Pointer(p))
}

func (b *boxer) time(v time.Time) any {
	if len(b.times) == 0 {
		b.times = make([]time.Time, slabLen)
	}
	p := &b.times[0]
	*p = v
	b.times = b.times[1:]
	return box(b.timeType, unsafe.Pointer(p))
}

// string copies s into a shared byte slab: a string never changes, so many
// may share one backing array.
func (b *boxer) string(s []byte) any {
	if len(s) == 0 {
		return ""
	}
	var str string
	if len(s) > 4096 {
		str = string(s)
	} else {
		if len(b.chars) < len(s) {
			b.chars = make([]byte, 64<<10)
		}
		n := copy(b.chars, s)
		str = unsafe.String(&b.chars[0], n)
		b.chars = b.chars[n:]
	}
	if len(b.strs) == 0 {
		b.strs = make([]string, slabLen)
	}
	p := &b.strs[0]
	*p = str
	b.strs = b.strs[1:]
	return box(b.stringType, unsafe.Pointer(p))
}
