package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cusprun/cusprun/core/source"
)

// bufSize is the chunk the header reader fetches through ReadAt.
const bufSize = 64 << 10

// reader reads a GGUF header sequentially through a Source in 64 KiB chunks.
// Errors are sticky: after the first one every read returns zero values, and
// callers check r.err once per entry.
type reader struct {
	src   source.Source
	size  int64  // file size
	limit int64  // header bytes may not extend past this
	store []byte // backing buffer
	buf   []byte // valid bytes, starting at file offset base
	base  int64
	p     int // read position in buf
	err   error
}

func newReader(src source.Source) *reader {
	return &reader{src: src, size: src.Size(), limit: min(src.Size(), MaxHeaderBytes), store: make([]byte, bufSize)}
}

// prealloc bounds the capacity allocated up front for a count read from the
// file; larger slices grow as their elements are actually read, so memory
// follows the bytes consumed rather than what a header claims.
const prealloc = 1 << 16

// leftWhat names what left() measures, for error messages.
func (r *reader) leftWhat() string {
	if r.limit < r.size {
		return fmt.Sprintf("left before the %d-byte header limit", r.limit)
	}
	return "left in the file"
}

func (r *reader) pos() int64  { return r.base + int64(r.p) }
func (r *reader) left() int64 { return r.limit - r.pos() }

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

// next returns the next n bytes, valid until the following read, or nil with
// r.err set.
func (r *reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.buf)-r.p < n && !r.fill(n) {
		return nil
	}
	b := r.buf[r.p : r.p+n]
	r.p += n
	return b
}

// fill makes at least n bytes available at r.p.
func (r *reader) fill(n int) bool {
	pos := r.pos()
	if int64(n) > r.limit-pos {
		if r.limit < r.size {
			r.fail("header larger than the %d bytes allowed", r.limit)
		} else {
			r.fail("truncated: %d bytes needed at offset %d but the file ends at %d", n, pos, r.size)
		}
		return false
	}
	if n > len(r.store) {
		r.store = make([]byte, n)
	}
	k := copy(r.store, r.buf[r.p:])
	want := int64(len(r.store) - k)
	if rest := r.limit - pos - int64(k); want > rest {
		want = rest
	}
	got, err := r.src.ReadAt(r.store[k:k+int(want)], pos+int64(k))
	if int64(got) < want {
		r.fail("reading at offset %d: %v", pos+int64(k), err)
		return false
	}
	r.base, r.p, r.buf = pos, 0, r.store[:k+int(want)]
	return true
}

func (r *reader) u8() uint8 {
	b := r.next(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16() uint16 {
	b := r.next(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *reader) u32() uint32 {
	b := r.next(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u64() uint64 {
	b := r.next(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// count reads an element count and checks that count elements of at least
// minSize bytes each can fit in what is left of the file.
func (r *reader) count(what string, minSize int64) int {
	n := r.u64()
	if r.err != nil {
		return 0
	}
	if left := r.left(); n > uint64(left/minSize) {
		r.fail("%s %d cannot fit in the %d bytes %s", what, n, left, r.leftWhat())
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.u64()
	if r.err != nil {
		return ""
	}
	if left := r.left(); n > uint64(left) {
		r.fail("string length %d exceeds the %d bytes %s", n, left, r.leftWhat())
		return ""
	}
	if n == 0 {
		return ""
	}
	return string(r.next(int(n)))
}

// fixed reads n elements of size bytes each, decoding them in bulk from the
// buffer.
func fixed[T any](r *reader, n, size int, dec func([]byte) T) []T {
	out := make([]T, 0, min(n, prealloc))
	for i := 0; i < n && r.err == nil; {
		if len(r.buf)-r.p < size && !r.fill(size) {
			break
		}
		k := min(n-i, (len(r.buf)-r.p)/size)
		b := r.buf[r.p : r.p+k*size]
		out = slices.Grow(out, k)
		dst := out[len(out) : len(out)+k]
		for j := range dst {
			dst[j] = dec(b[j*size:])
		}
		out = out[:len(out)+k]
		r.p += k * size
		i += k
	}
	if r.err != nil {
		return nil
	}
	return out
}

func decU8(b []byte) uint8    { return b[0] }
func decI8(b []byte) int8     { return int8(b[0]) }
func decU16(b []byte) uint16  { return binary.LittleEndian.Uint16(b) }
func decI16(b []byte) int16   { return int16(binary.LittleEndian.Uint16(b)) }
func decU32(b []byte) uint32  { return binary.LittleEndian.Uint32(b) }
func decI32(b []byte) int32   { return int32(binary.LittleEndian.Uint32(b)) }
func decF32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
func decBool(b []byte) bool   { return b[0] != 0 }
func decU64(b []byte) uint64  { return binary.LittleEndian.Uint64(b) }
func decI64(b []byte) int64   { return int64(binary.LittleEndian.Uint64(b)) }
func decF64(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
