package tensor

// The 256-value K-quant super-blocks (Q2_K ... Q6_K), decoded with the same
// float32 operations in the same order as ggml's dequantize_row_*_K, so the
// results are equal bit for bit.

// scaleMinK4 unpacks sub-block j's 6-bit scale and min from the 12 packed
// bytes of a Q4_K or Q5_K block (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0x0f | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// Q2_K: scales[16], qs[64], f16 d, f16 dmin.
func dequantQ2_K(dst []float32, b []byte) {
	scales, qs := b[0:16], b[16:80]
	d, dmin := half(b[80:]), half(b[82:])
	y, is := 0, 0
	for n := 0; n < QK; n += 128 {
		q := qs[n/4:]
		for shift := uint(0); shift < 8; shift += 2 {
			for h := 0; h < 2; h++ {
				sc := scales[is]
				is++
				dl, ml := d*float32(sc&0x0f), dmin*float32(sc>>4)
				for l := 0; l < 16; l++ {
					dst[y] = float32(dl*float32((q[l+16*h]>>shift)&3)) - ml
					y++
				}
			}
		}
	}
}

// q3Scales unpacks the sixteen 6-bit scales of a Q3_K block (stored as low
// nibbles in bytes 0-7 and high bit pairs in bytes 8-11), minus 32.
func q3Scales(s []byte) [16]int {
	var out [16]int
	for i := 0; i < 16; i++ {
		var lo byte
		if i < 8 {
			lo = s[i] & 0x0f
		} else {
			lo = s[i-8] >> 4
		}
		hi := (s[8+i%4] >> (2 * uint(i/4))) & 3
		out[i] = int(lo|hi<<4) - 32
	}
	return out
}

// Q3_K: hmask[32], qs[64], scales[12], f16 d.
func dequantQ3_K(dst []float32, b []byte) {
	hm, qs := b[0:32], b[32:96]
	sc := q3Scales(b[96:108])
	d := half(b[108:])
	y, is := 0, 0
	m := byte(1)
	for n := 0; n < QK; n += 128 {
		q := qs[n/4:]
		for shift := uint(0); shift < 8; shift += 2 {
			for h := 0; h < 2; h++ {
				dl := d * float32(sc[is])
				is++
				for l := 16 * h; l < 16*h+16; l++ {
					v := int((q[l] >> shift) & 3)
					if hm[l]&m == 0 {
						v -= 4
					}
					dst[y] = dl * float32(v)
					y++
				}
			}
			m <<= 1
		}
	}
}

// Q4_K: f16 d, f16 dmin, scales[12], qs[128].
func dequantQ4_K(dst []float32, b []byte) {
	d, dmin := half(b), half(b[2:])
	scales, qs := b[4:16], b[16:144]
	y := 0
	for j, is := 0, 0; j < QK; j, is = j+64, is+2 {
		q := qs[j/2:]
		sc1, m1 := scaleMinK4(is, scales)
		sc2, m2 := scaleMinK4(is+1, scales)
		d1, mn1 := d*float32(sc1), dmin*float32(m1)
		d2, mn2 := d*float32(sc2), dmin*float32(m2)
		for l := 0; l < 32; l++ {
			dst[y+l] = float32(d1*float32(q[l]&0x0f)) - mn1
			dst[y+32+l] = float32(d2*float32(q[l]>>4)) - mn2
		}
		y += 64
	}
}

// Q5_K: f16 d, f16 dmin, scales[12], qh[32], qs[128].
func dequantQ5_K(dst []float32, b []byte) {
	d, dmin := half(b), half(b[2:])
	scales, qh, qs := b[4:16], b[16:48], b[48:176]
	y := 0
	u1, u2 := byte(1), byte(2)
	for j, is := 0, 0; j < QK; j, is = j+64, is+2 {
		ql := qs[j/2:]
		sc1, m1 := scaleMinK4(is, scales)
		sc2, m2 := scaleMinK4(is+1, scales)
		d1, mn1 := d*float32(sc1), dmin*float32(m1)
		d2, mn2 := d*float32(sc2), dmin*float32(m2)
		for l := 0; l < 32; l++ {
			v1, v2 := int(ql[l]&0x0f), int(ql[l]>>4)
			if qh[l]&u1 != 0 {
				v1 += 16
			}
			if qh[l]&u2 != 0 {
				v2 += 16
			}
			dst[y+l] = float32(d1*float32(v1)) - mn1
			dst[y+32+l] = float32(d2*float32(v2)) - mn2
		}
		y += 64
		u1 <<= 2
		u2 <<= 2
	}
}

// Q6_K: ql[128], qh[64], int8 scales[16], f16 d.
func dequantQ6_K(dst []float32, b []byte) {
	d := half(b[208:])
	for n := 0; n < 2; n++ {
		ql, qh, sc := b[64*n:], b[128+32*n:], b[192+8*n:]
		y := dst[128*n:]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(ql[l]&0x0f|(qh[l]&3)<<4) - 32
			q2 := int(ql[l+32]&0x0f|((qh[l]>>2)&3)<<4) - 32
			q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
			q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
			y[l] = float32(d*float32(int8(sc[is]))) * float32(q1)
			y[l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
			y[l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
			y[l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
		}
	}
}
