package tensor

// Quantizers for Q2_K and Q3_K, giving the same bytes as ggml's
// quantize_row_q2_K_ref and quantize_row_q3_K_ref (see quantize_k.go for
// the shared rules).

// packQ2 stores 256 2-bit levels as ggml's Q2_K and Q3_K do: per 128
// values, byte l holds levels l, l+32, l+64 and l+96.
func packQ2(qs []byte, L *[QK]uint8) {
	for j := 0; j < QK; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// Q2_K: scales[16] (4-bit scale low, 4-bit min high), qs[64], f16 d, dmin.
func quantQ2_K(b []byte, x []float32) {
	var L [QK]uint8
	var aux [16]uint8
	var w [16]float32
	var scales, mins [16]float32
	maxScale, maxMin := float32(0), float32(0)
	for j := 0; j < 16; j++ {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			w[l] = abs32(v)
		}
		scales[j], mins[j] = makeQKX2(3, xs, w[:], L[16*j:16*j+16], aux[:], -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := b[0:16]
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(fmul(iscale, scales[j])))
		}
		putHalf(b[80:], maxScale/15)
	} else {
		for j := range sc {
			sc[j] = 0
		}
		putHalf(b[80:], 0)
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(fmul(iscale, mins[j])) << 4)
		}
		putHalf(b[82:], maxMin/15)
	} else {
		putHalf(b[82:], 0)
	}
	dAll, mAll := half(b[80:]), half(b[82:])
	for j := 0; j < 16; j++ {
		d := dAll * float32(sc[j]&0x0f)
		if d == 0 {
			continue
		}
		dm := mAll * float32(sc[j]>>4)
		for i := 0; i < 16; i++ {
			L[16*j+i] = uint8(clampInt(nearestInt((x[16*j+i]+dm)/d), 0, 3))
		}
	}
	packQ2(b[16:80], &L)
}

// makeQ3 is ggml's make_q3_quants with do_rmse: signed levels -nmax..nmax-1
// refined a level at a time for five rounds to lower the x²-weighted error,
// stored as 0..2*nmax-1 (left 0 for an all-zero group, as ggml does).
func makeQ3(nmax int, x []float32, L []int8) float32 {
	mx, amax := float32(0), float32(0)
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	iscale := -float32(nmax) / mx
	var sumLX, sumL2 float32
	for i, v := range x {
		l := clampInt(nearestInt(fmul(iscale, v)), -nmax, nmax-1)
		L[i] = int8(l)
		w := fmul(v, v)
		sumLX += fmul(fmul(w, v), float32(l))
		sumL2 += fmul(fmul(w, float32(l)), float32(l))
	}
	for try := 0; try < 5; try++ {
		changed := 0
		for i, v := range x {
			w := fmul(v, v)
			slx := sumLX - fmul(fmul(w, v), float32(L[i]))
			if slx > 0 {
				sl2 := sumL2 - fmul(fmul(w, float32(L[i])), float32(L[i]))
				nl := clampInt(nearestInt(fmul(v, sl2)/slx), -nmax, nmax-1)
				if nl != int(L[i]) {
					slx += fmul(fmul(w, v), float32(nl))
					sl2 += fmul(fmul(w, float32(nl)), float32(nl))
					if sl2 > 0 && fmul(fmul(slx, slx), sumL2) > fmul(fmul(sumLX, sumLX), sl2) {
						L[i], sumLX, sumL2 = int8(nl), slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L[:len(x)] {
		L[i] += int8(nmax)
	}
	if sumL2 > 0 {
		return sumLX / sumL2
	}
	return 0
}

// Q3_K: hmask[32], qs[64], scales[12] (6-bit, packed), f16 d.
func quantQ3_K(b []byte, x []float32) {
	var L [QK]int8
	var scales [16]float32
	maxScale, amax := float32(0), float32(0)
	for j := 0; j < 16; j++ {
		scales[j] = makeQ3(4, x[16*j:16*j+16], L[16*j:16*j+16])
		if a := abs32(scales[j]); a > amax {
			amax, maxScale = a, scales[j]
		}
	}
	sc := b[96:108]
	for i := range sc {
		sc[i] = 0
	}
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < 16; j++ {
			l := int8(nearestInt(fmul(iscale, scales[j])))
			l = int8(max(-32, min(31, int(l))) + 32)
			if j < 8 {
				sc[j] = byte(l) & 0x0f
			} else {
				sc[j-8] |= (byte(l) & 0x0f) << 4
			}
			l >>= 4
			sc[j%4+8] |= byte(l) << (2 * uint(j/4))
		}
		putHalf(b[108:], 1/iscale)
	} else {
		putHalf(b[108:], 0)
	}
	dAll := half(b[108:])
	for j := 0; j < 16; j++ {
		var s int
		if j < 8 {
			s = int(sc[j] & 0x0f)
		} else {
			s = int(sc[j-8] >> 4)
		}
		s = s | int((sc[8+j%4]>>(2*uint(j/4)))&3)<<4 - 32
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		for i := 0; i < 16; i++ {
			L[16*j+i] = int8(clampInt(nearestInt(x[16*j+i]/d), -4, 3) + 4)
		}
	}
	hm := b[0:32]
	for i := range hm {
		hm[i] = 0
	}
	var q [QK]uint8
	for j := 0; j < QK; j++ {
		l := L[j]
		if l > 3 {
			hm[j%32] |= 1 << uint(j/32)
			l -= 4
		}
		q[j] = uint8(l)
	}
	packQ2(b[32:96], &q)
}
