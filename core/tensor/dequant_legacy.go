package tensor

// The 32-value block formats (Q4_0 ... Q8_0). Every value is computed with
// the same float32 operations in the same order as ggml's dequantize_row_*,
// so the results are equal bit for bit; the explicit float32 conversions keep
// the compiler from fusing a multiply and an add.

func dequantQ8_0(dst []float32, b []byte) {
	d := half(b)
	for j := 0; j < 32; j++ {
		dst[j] = float32(int8(b[2+j])) * d
	}
}

func dequantQ4_0(dst []float32, b []byte) {
	d := half(b)
	qs := b[2:18]
	for j := 0; j < 16; j++ {
		dst[j] = float32(int(qs[j]&0x0f)-8) * d
		dst[j+16] = float32(int(qs[j]>>4)-8) * d
	}
}

func dequantQ4_1(dst []float32, b []byte) {
	d, m := half(b), half(b[2:])
	qs := b[4:20]
	for j := 0; j < 16; j++ {
		dst[j] = float32(float32(qs[j]&0x0f)*d) + m
		dst[j+16] = float32(float32(qs[j]>>4)*d) + m
	}
}

// q5High returns the 32 fifth bits of a Q5 block (a little-endian uint32).
func q5High(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func dequantQ5_0(dst []float32, b []byte) {
	d := half(b)
	qh := q5High(b[2:])
	qs := b[6:22]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>uint(j)<<4) & 0x10
		h1 := byte(qh>>uint(j+12)) & 0x10
		dst[j] = float32(int(qs[j]&0x0f|h0)-16) * d
		dst[j+16] = float32(int(qs[j]>>4|h1)-16) * d
	}
}

func dequantQ5_1(dst []float32, b []byte) {
	d, m := half(b), half(b[2:])
	qh := q5High(b[4:])
	qs := b[8:24]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>uint(j)<<4) & 0x10
		h1 := byte(qh>>uint(j+12)) & 0x10
		dst[j] = float32(float32(qs[j]&0x0f|h0)*d) + m
		dst[j+16] = float32(float32(qs[j]>>4|h1)*d) + m
	}
}
