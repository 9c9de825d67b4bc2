package tensor

import (
	"fmt"
	"slices"
)

// Block-quantized dtypes, as ggml defines them: a tensor row is a run of
// fixed-size blocks, each holding blockElems values in blockBytes bytes.
// They follow Q8_0 in the DType numbering (F32, F16, BF16, Q8_0 keep their
// numbers).
const (
	Q4_0   DType = iota + Q8_0 + 1 // 32 values: f16 d, 16 bytes of 4-bit q; x = (q-8)*d
	Q4_1                           // 32 values: f16 d, f16 m, 4-bit q; x = q*d + m
	Q5_0                           // 32 values: f16 d, 32 high bits, 4-bit low; x = (q-16)*d
	Q5_1                           // 32 values: f16 d, f16 m, high bits, low nibbles; x = q*d + m
	Q2_K                           // 256 values: 16 sub-blocks of 16, 4-bit scales and mins
	Q3_K                           // 256 values: 16 sub-blocks of 16, 6-bit signed scales
	Q4_K                           // 256 values: 8 sub-blocks of 32, 6-bit scales and mins
	Q5_K                           // 256 values: like Q4_K with a fifth bit
	Q6_K                           // 256 values: 16 sub-blocks of 16, 8-bit scales
	IQ4_NL                         // 32 values: f16 d, 4-bit indices into 16 non-linear levels
	IQ4_XS                         // 256 values: IQ4_NL runs of 32 with 6-bit scales
	numDTypes
)

// QK is the number of values in a K-quant super-block.
const QK = 256

// blockLayout is one quantized dtype's block: values per block and bytes.
type blockLayout struct {
	name         string
	elems, bytes int
}

// blocks lists the quantized dtypes (sizes from ggml's block structs).
var blocks = map[DType]blockLayout{
	Q8_0:   {"Q8_0", Q8Block, Q8BlockBytes},
	Q4_0:   {"Q4_0", 32, 18},
	Q4_1:   {"Q4_1", 32, 20},
	Q5_0:   {"Q5_0", 32, 22},
	Q5_1:   {"Q5_1", 32, 24},
	Q2_K:   {"Q2_K", QK, 84},
	Q3_K:   {"Q3_K", QK, 110},
	Q4_K:   {"Q4_K", QK, 144},
	Q5_K:   {"Q5_K", QK, 176},
	Q6_K:   {"Q6_K", QK, 210},
	IQ4_NL: {"IQ4_NL", 32, 18},
	IQ4_XS: {"IQ4_XS", QK, 136},
}

// Quantized reports whether d stores values in blocks rather than one
// element at a time (rows of such a tensor cannot be cut inside a block).
func (d DType) Quantized() bool {
	_, ok := blocks[d]
	return ok
}

// Block returns the number of values in one block of d and the block's size
// in bytes: 1 and the element size for F32, F16 and BF16; ok is false for an
// unknown dtype.
func (d DType) Block() (elems, bytes int, ok bool) {
	switch d {
	case F32:
		return 1, 4, true
	case F16, BF16:
		return 1, 2, true
	}
	b, ok := blocks[d]
	return b.elems, b.bytes, ok
}

// QuantDTypes lists the quantized dtypes in DType order.
func QuantDTypes() []DType {
	return []DType{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS}
}

// decodeBlocks widens n = len(dst) values (whole blocks) of quantized dtype d.
func decodeBlocks(dst []float32, src []byte, d DType) {
	b := blocks[d]
	dec := dequantizers[d]
	for i := 0; i < len(dst)/b.elems; i++ {
		dec(dst[i*b.elems:(i+1)*b.elems], src[i*b.bytes:(i+1)*b.bytes])
	}
}

// dequantizers turn one block into its values, as ggml's dequantize_row_*.
var dequantizers = map[DType]func(dst []float32, blk []byte){
	Q8_0:   dequantQ8_0,
	Q4_0:   dequantQ4_0,
	Q4_1:   dequantQ4_1,
	Q5_0:   dequantQ5_0,
	Q5_1:   dequantQ5_1,
	Q2_K:   dequantQ2_K,
	Q3_K:   dequantQ3_K,
	Q4_K:   dequantQ4_K,
	Q5_K:   dequantQ5_K,
	Q6_K:   dequantQ6_K,
	IQ4_NL: dequantIQ4NL,
	IQ4_XS: dequantIQ4XS,
}

// quantizers turn one block's values into its bytes, as ggml's
// quantize_row_*_ref.
var quantizers = map[DType]func(blk []byte, x []float32){
	Q2_K:   quantQ2_K,
	Q3_K:   quantQ3_K,
	Q8_0:   quantQ8_0,
	Q4_0:   quantQ4_0,
	Q4_1:   quantQ4_1,
	Q5_0:   quantQ5_0,
	Q5_1:   quantQ5_1,
	Q4_K:   quantQ4_K,
	Q5_K:   quantQ5_K,
	Q6_K:   quantQ6_K,
	IQ4_NL: quantIQ4NL,
	IQ4_XS: quantIQ4XS,
}

// CanEncode reports whether Encode writes dtype d.
func CanEncode(d DType) bool {
	switch d {
	case F32, F16, BF16:
		return true
	}
	_, ok := quantizers[d]
	return ok
}

// encodeBlocks appends src quantized to d (whole blocks) to dst.
func encodeBlocks(dst []byte, src []float32, d DType) ([]byte, error) {
	q, ok := quantizers[d]
	if !ok {
		return nil, fmt.Errorf("tensor: cannot encode %s", d)
	}
	b := blocks[d]
	if len(src)%b.elems != 0 {
		return nil, fmt.Errorf("tensor: %s needs a multiple of %d values, got %d", d, b.elems, len(src))
	}
	n := len(src) / b.elems
	dst = slices.Grow(dst, n*b.bytes)
	out := dst[len(dst) : len(dst)+n*b.bytes]
	for i := 0; i < n; i++ {
		q(out[i*b.bytes:(i+1)*b.bytes], src[i*b.elems:(i+1)*b.elems])
	}
	return dst[:len(dst)+n*b.bytes], nil
}

// half reads a little-endian IEEE half at b[0:2] as float32.
func half(b []byte) float32 { return F16ToF32(uint16(b[0]) | uint16(b[1])<<8) }
