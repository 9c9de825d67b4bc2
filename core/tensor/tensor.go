// Package tensor describes tensors stored in model files (name, dtype, shape,
// where their bytes are) and converts their elements to and from float32.
//
// It knows nothing about any file format; the safetensors and gguf packages
// fill in Info values and the model package asks for float32 rows.
package tensor

import (
	"fmt"
	"math"
	"strings"
)

// DType is the element type of a stored tensor.
type DType int

const (
	F32 DType = iota
	F16
	BF16
	Q8_0 // blocks of 32: one f16 scale then 32 int8 values (34 bytes)
)

var dtypeNames = [...]string{F32: "F32", F16: "F16", BF16: "BF16"}

func (d DType) String() string {
	if int(d) >= 0 && int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	if b, ok := blocks[d]; ok {
		return b.name
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// ParseDType reads a dtype name as safetensors and the CLI spell it.
func ParseDType(s string) (DType, error) {
	switch s {
	case "F32", "f32", "float32":
		return F32, nil
	case "F16", "f16", "float16":
		return F16, nil
	case "BF16", "bf16", "bfloat16":
		return BF16, nil
	}
	for d, b := range blocks {
		if s == b.name || s == strings.ToLower(b.name) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unsupported dtype %q (want F32, F16 or BF16)", s)
}

// Q8Block is the number of elements in one Q8_0 block, and Q8BlockBytes its size.
const (
	Q8Block      = 32
	Q8BlockBytes = 34
)

// ByteSize is the number of bytes n elements of d occupy, or -1 when n does
// not fit d's block structure.
func (d DType) ByteSize(n int64) int64 {
	switch d {
	case F32:
		return 4 * n
	case F16, BF16:
		return 2 * n
	}
	if b, ok := blocks[d]; ok && n%int64(b.elems) == 0 {
		return n / int64(b.elems) * int64(b.bytes)
	}
	return -1
}

// Info locates one tensor inside a file. Shape is in row-major order with the
// slowest dimension first (as safetensors and PyTorch write it; the gguf
// package reverses GGUF's order on read).
type Info struct {
	Name   string
	DType  DType
	Shape  []int
	Offset int64 // absolute byte offset in the file
}

// Elems is the number of elements.
func (t Info) Elems() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Bytes is the tensor's size in bytes.
func (t Info) Bytes() int64 { return t.DType.ByteSize(t.Elems()) }

// Rows and Cols view the tensor as a matrix: the last dimension is Cols.
func (t Info) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

func (t Info) Rows() int {
	c := t.Cols()
	if c == 0 {
		return 0
	}
	return int(t.Elems() / int64(c))
}

// Decode converts src, holding len(dst) elements of dtype d, to float32.
func Decode(dst []float32, src []byte, d DType) error {
	n := len(dst)
	if need := d.ByteSize(int64(n)); need < 0 || int64(len(src)) < need {
		return fmt.Errorf("tensor: %d bytes hold fewer than %d %s elements", len(src), n, d)
	}
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(uint16(src[2*i])|uint16(src[2*i+1])<<8) << 16)
		}
	default:
		if !d.Quantized() {
			return fmt.Errorf("tensor: cannot decode %s", d)
		}
		decodeBlocks(dst, src, d)
	}
	return nil
}

// Encode appends the elements of src in dtype d to dst. Quantized dtypes
// need whole blocks and give the bytes of ggml's reference quantizer.
func Encode(dst []byte, src []float32, d DType) ([]byte, error) {
	switch d {
	case F32:
		for _, v := range src {
			u := math.Float32bits(v)
			dst = append(dst, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
		}
	case F16:
		for _, v := range src {
			h := F32ToF16(v)
			dst = append(dst, byte(h), byte(h>>8))
		}
	case BF16:
		for _, v := range src {
			h := F32ToBF16(v)
			dst = append(dst, byte(h), byte(h>>8))
		}
	default:
		return encodeBlocks(dst, src, d)
	}
	return dst, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// F32ToBF16 rounds to nearest even, keeping NaN a NaN.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// BF16ToF32 widens a bfloat16 exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F16ToF32 widens an IEEE half exactly (subnormals, infinities and NaN included).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalise
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// F32ToF16 rounds to nearest even; overflow becomes infinity.
func F32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23&0xff) - 127 + 15
	man := u & 0x7fffff
	if u&0x7fffffff >= 0x7f800000 { // inf or nan
		if u&0x7fffffff > 0x7f800000 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	if exp >= 0x1f {
		return sign | 0x7c00
	}
	if exp <= 0 {
		if exp < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := man >> shift
		rem := man & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint16(exp)<<10 | uint16(man>>13)
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the right answer
	}
	return sign | r
}
