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
//
// Slabs are consumed through indexes rather than by reslicing: advancing
// an integer needs no GC write barrier, advancing a slice header does, and
// a load keeps the collector busy often enough for that to show.
type boxer struct {
	ints   []int64
	floats []float64
	decs   []connector.Decimal
	times  []time.Time
	strs   []string
	chars  []byte
	// next free element of each slab
	ni, nf, nd, nt, ns, nc int

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
	if b.ni == len(b.ints) {
		b.ints, b.ni = make([]int64, slabLen), 0
	}
	p := &b.ints[b.ni]
	*p = v
	b.ni++
	return box(b.int64Type, unsafe.Pointer(p))
}

func (b *boxer) float64(v float64) any {
	if b.nf == len(b.floats) {
		b.floats, b.nf = make([]float64, slabLen), 0
	}
	p := &b.floats[b.nf]
	*p = v
	b.nf++
	return box(b.float64Type, unsafe.Pointer(p))
}

func (b *boxer) decimal(v connector.Decimal) any {
	if b.nd == len(b.decs) {
		b.decs, b.nd = make([]connector.Decimal, slabLen), 0
	}
	p := &b.decs[b.nd]
	*p = v
	b.nd++
	return box(b.decimalType, unsafe.Pointer(p))
}

func (b *boxer) time(v time.Time) any {
	if b.nt == len(b.times) {
		b.times, b.nt = make([]time.Time, slabLen), 0
	}
	p := &b.times[b.nt]
	*p = v
	b.nt++
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
		if len(b.chars)-b.nc < len(s) {
			b.chars, b.nc = make([]byte, 64<<10), 0
		}
		n := copy(b.chars[b.nc:], s)
		str = unsafe.String(&b.chars[b.nc], n)
		b.nc += n
	}
	if b.ns == len(b.strs) {
		b.strs, b.ns = make([]string, slabLen), 0
	}
	p := &b.strs[b.ns]
	*p = str
	b.ns++
	return box(b.stringType, unsafe.Pointer(p))
}
