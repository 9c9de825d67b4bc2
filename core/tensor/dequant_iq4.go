package tensor

// The non-linear 4-bit formats (IQ4_NL, IQ4_XS): each 4-bit index picks one
// of 16 fixed levels, spaced closer near zero, which a block scale
// multiplies. Computed with ggml's float32 operations in its order, so the
// values equal dequantize_row_iq4_* bit for bit.

// iq4Levels are ggml's kvalues_iq4nl.
var iq4Levels = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// dequantIQ4NL: 32 values, an f16 scale d, then 16 bytes whose low nibbles
// index values 0-15 and high nibbles 16-31; value = d * level.
func dequantIQ4NL(dst []float32, b []byte) {
	iq4Run(dst, half(b), b[2:18])
}

// dequantIQ4XS: 256 values in 8 runs of 32, an f16 scale d, the runs' 6-bit
// scales (low 4 bits in scales_l, two per byte; high 2 bits in the u16
// scales_h) stored plus 32, then 8 × 16 bytes of indices as IQ4_NL's.
func dequantIQ4XS(dst []float32, b []byte) {
	d := half(b)
	hi := uint16(b[2]) | uint16(b[3])<<8
	for ib := 0; ib < 8; ib++ {
		ls := int(b[4+ib/2]>>(4*(ib%2))&0xf) | int(hi>>(2*ib)&3)<<4
		iq4Run(dst[32*ib:32*ib+32], d*float32(ls-32), b[8+16*ib:8+16*ib+16])
	}
}

// iq4Run widens one run of 32 indices (16 bytes) with scale d.
func iq4Run(dst []float32, d float32, qs []byte) {
	for j := 0; j < 16; j++ {
		dst[j] = d * float32(iq4Levels[qs[j]&0xf])
		dst[j+16] = d * float32(iq4Levels[qs[j]>>4])
	}
}
