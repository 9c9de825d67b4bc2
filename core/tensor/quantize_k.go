package tensor

import "math"

// Quantizers for the K-quant super-blocks Q4_K, Q5_K and Q6_K (Q2_K and
// Q3_K in quantize_k23.go), giving the same bytes as ggml's
// quantize_row_q{4,5,6}_K_ref: the same search for
// sub-block scales (make_qkx2_quants, make_qx_quants), the same float32
// operations in the same order, and ggml's nearest_int (round half to even
// through the 1.5*2^23 trick).

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is
// below it is all zero.
const groupMaxEps = float32(1e-15)

// nearestInt rounds as ggml's nearest_int (|f| <= 4194303).
func nearestInt(f float32) int {
	v := f + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

func sqrt32(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// makeQKX2 is ggml's make_qkx2_quants: it picks a scale and a min for x
// (levels 0..nmax) minimising the weighted squared error (absolute error
// with mad) over nstep+1 trial scales, writing the levels to L. It returns
// the scale and the min (negated, as ggml stores it).
func makeQKX2(nmax int, x, w []float32, L, aux []uint8, rmin, rdelta float32, nstep int, mad bool) (scale, theMin float32) {
	errOf := func(d float32) float32 {
		if mad {
			return abs32(d)
		}
		return fmul(d, d)
	}
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := w[0]
	sumX := fmul(sumW, x[0])
	for i := 1; i < n; i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		sumW += w[i]
		sumX += fmul(w[i], x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -lo
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	bestErr := float32(0)
	for i := 0; i < n; i++ {
		l := clampInt(nearestInt(fmul(iscale, x[i]-lo)), 0, nmax)
		L[i] = uint8(l)
		diff := fmul(scale, float32(l)) + lo - x[i]
		bestErr += fmul(w[i], errOf(diff))
	}
	if nstep < 1 {
		return scale, -lo
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + fmul(rdelta, float32(is)) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := clampInt(nearestInt(fmul(iscale, x[i]-lo)), 0, nmax)
			aux[i] = uint8(l)
			wl := fmul(w[i], float32(l))
			sumL += wl
			sumL2 += fmul(wl, float32(l))
			sumXL += fmul(wl, x[i])
		}
		D := fmul(sumW, sumL2) - fmul(sumL, sumL)
		if D > 0 {
			thisScale := (fmul(sumW, sumXL) - fmul(sumX, sumL)) / D
			thisMin := (fmul(sumL2, sumX) - fmul(sumL, sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			curErr := float32(0)
			for i := 0; i < n; i++ {
				diff := fmul(thisScale, float32(aux[i])) + thisMin - x[i]
				curErr += fmul(w[i], errOf(diff))
			}
			if curErr < bestErr {
				copy(L[:n], aux[:n])
				bestErr, scale, lo = curErr, thisScale, thisMin
			}
		}
	}
	return scale, -lo
}

// quantKMin is the shared body of Q4_K and Q5_K: eight sub-blocks of 32
// with 6-bit scales and mins. It fills d, dmin and the 12 scale bytes of b
// and returns the levels (0..nmax) of the 256 values.
func quantKMin(b []byte, x []float32, nmax int, rmin float32, nstep int) [QK]uint8 {
	var L [QK]uint8
	var aux [32]uint8
	var w [32]float32
	var scales, mins [8]float32
	maxScale, maxMin := float32(0), float32(0)
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		sumX2 := float32(0)
		for _, v := range xs {
			sumX2 += fmul(v, v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			w[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2(nmax, xs, w[:], L[32*j:32*j+32], aux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	invScale, invMin := float32(0), float32(0)
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := b[4:16]
	for i := range sc {
		sc[i] = 0
	}
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(nearestInt(fmul(invScale, scales[j]))))
		lm := min(63, uint8(nearestInt(fmul(invMin, mins[j]))))
		if j < 4 {
			sc[j], sc[j+4] = ls, lm
		} else {
			sc[j+4] = ls&0x0f | (lm&0x0f)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putHalf(b, maxScale/63)
	putHalf(b[2:], maxMin/63)
	dAll, mAll := half(b), half(b[2:])
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		dm := mAll * float32(m)
		for i := 0; i < 32; i++ {
			L[32*j+i] = uint8(clampInt(nearestInt((x[32*j+i]+dm)/d), 0, nmax))
		}
	}
	return L
}

func quantQ4_K(b []byte, x []float32) {
	L := quantKMin(b, x, 15, -1, 20)
	q := b[16:144]
	for j := 0; j < QK; j += 64 {
		for l := 0; l < 32; l++ {
			q[j/2+l] = L[j+l] | L[j+l+32]<<4
		}
	}
}

func quantQ5_K(b []byte, x []float32) {
	L := quantKMin(b, x, 31, -0.5, 15)
	qh, ql := b[16:48], b[48:176]
	for i := range qh {
		qh[i] = 0
	}
	m1, m2 := byte(1), byte(2)
	for n := 0; n < QK; n += 64 {
		for j := 0; j < 32; j++ {
			l1, l2 := L[n+j], L[n+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[n/2+j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
	}
}

// makeQX is ggml's make_qx_quants with rmse_type 1 and no importance
// weights: signed levels -nmax..nmax-1 stored as 0..2*nmax-1 in L, with the
// scale chosen among 19 trials to minimise the x²-weighted error.
func makeQX(nmax int, x []float32, L []int8) float32 {
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
	sums := func(iscale float32, store bool) (sumLX, sumL2 float32) {
		for i, v := range x {
			l := clampInt(nearestInt(fmul(iscale, v)), -nmax, nmax-1)
			if store {
				L[i] = int8(l + nmax)
			}
			w := fmul(v, v)
			sumLX += fmul(fmul(w, v), float32(l))
			sumL2 += fmul(fmul(w, float32(l)), float32(l))
		}
		return sumLX, sumL2
	}
	iscale := -float32(nmax) / mx
	sumLX, sumL2 := sums(iscale, true)
	scale := float32(0)
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := fmul(scale, sumLX)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + fmul(0.1, float32(is))) / mx
		sumLX, sumL2 = sums(iscale, false)
		if sumL2 > 0 && fmul(sumLX, sumLX) > fmul(best, sumL2) {
			sums(iscale, true)
			scale = sumLX / sumL2
			best = fmul(scale, sumLX)
		}
	}
	return scale
}

func quantQ6_K(b []byte, x []float32) {
	var L [QK]int8
	var scales [16]float32
	maxScale, maxAbs := float32(0), float32(0)
	for ib := 0; ib < 16; ib++ {
		s := makeQX(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := abs32(s); a > maxAbs {
			maxAbs, maxScale = a, s
		}
	}
	if maxAbs < groupMaxEps {
		for i := range b[:210] {
			b[i] = 0
		}
		return
	}
	iscale := -128 / maxScale
	putHalf(b[208:], 1/iscale)
	sc := b[192:208]
	for ib := 0; ib < 16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(fmul(iscale, scales[ib])))))
	}
	dAll := half(b[208:])
	for j := 0; j < 16; j++ {
		d := dAll * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for i := 0; i < 16; i++ {
			L[16*j+i] = int8(clampInt(nearestInt(x[16*j+i]/d), -32, 31) + 32)
		}
	}
	ql, qh := b[0:128], b[128:192]
	for j := 0; j < QK; j += 128 {
		o, h := j/2, j/4
		for l := 0; l < 32; l++ {
			q1, q2 := uint8(L[j+l]), uint8(L[j+l+32])
			q3, q4 := uint8(L[j+l+64]), uint8(L[j+l+96])
			ql[o+l] = q1&0x0f | (q3&0x0f)<<4
			ql[o+l+32] = q2&0x0f | (q4&0x0f)<<4
			qh[h+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
