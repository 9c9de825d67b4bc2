package tensor

// quantIQ4NL and quantIQ4XS are ggml's quantize_iq4_nl and quantize_iq4_xs
// without an importance matrix, as llama-quantize runs them: per run of 32
// values, the scale is searched (15 tries around max/127) for the least
// weighted squared error, weights x², and IQ4_XS then stores each run's
// scale as a 6-bit multiple of one super-block scale and picks the indices
// again for it. Every operation is float32 in ggml's order (fmul and the
// explicit conversions keep the compiler from fusing multiply-adds), so the
// bytes equal llama.cpp's.

// iq4Tries is the scale search's reach either side of max/127 (ggml's ntry).
const iq4Tries = 7

// iq4Index is ggml's best_index_int8 over the 16 levels: the nearest level
// to x (on a tie, the higher one).
func iq4Index(x float32) byte {
	v := &iq4Levels
	if x <= float32(v[0]) {
		return 0
	}
	if x >= float32(v[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if x < float32(v[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if x-float32(v[hi-1]) < float32(v[hi])-x {
		return byte(hi - 1)
	}
	return byte(hi)
}

// iq4Scale searches one run's scale (quantize_row_iq4_nl_impl's per-block
// loop): 0 for a run below groupMaxEps.
func iq4Scale(x []float32) float32 {
	var w [32]float32
	amax, mx := float32(0), float32(0)
	for j, v := range x {
		w[j] = fmul(v, v)
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < groupMaxEps {
		return 0
	}
	level0 := float32(iq4Levels[0])
	d := -mx / level0
	id := 1 / d
	sums := func(id float32) (sumqx, sumq2 float32) {
		for j, v := range x {
			q := float32(iq4Levels[iq4Index(fmul(id, v))])
			sumqx += fmul(fmul(w[j], q), v)
			sumq2 += fmul(fmul(w[j], q), q)
		}
		return
	}
	sumqx, sumq2 := sums(id)
	d = 0
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	best := fmul(d, sumqx)
	for try := -iq4Tries; try <= iq4Tries; try++ {
		id = float32(try+int(iq4Levels[0])) / mx
		sumqx, sumq2 = sums(id)
		if sumq2 > 0 && fmul(sumqx, sumqx) > fmul(best, sumq2) {
			d = sumqx / sumq2
			best = fmul(d, sumqx)
		}
	}
	return d
}

// putIQ4 packs 32 indices into 16 bytes: low nibbles 0-15, high 16-31.
func putIQ4(qs []byte, L []byte) {
	for j := 0; j < 16; j++ {
		qs[j] = L[j] | L[j+16]<<4
	}
}

func quantIQ4NL(b []byte, x []float32) {
	var L [32]byte
	d := iq4Scale(x[:32])
	putHalf(b, d)
	id := inverse(d)
	for j := range L {
		L[j] = iq4Index(fmul(id, x[j]))
	}
	putIQ4(b[2:18], L[:])
}

func quantIQ4XS(b []byte, x []float32) {
	var scales [8]float32
	maxScale, amaxScale := float32(0), float32(0)
	for ib := range scales {
		scales[ib] = iq4Scale(x[32*ib : 32*ib+32])
		if a := abs32(scales[ib]); a > amaxScale {
			amaxScale, maxScale = a, scales[ib]
		}
	}
	d := -maxScale / 32
	putHalf(b, d)
	id := inverse(d)
	var hi uint16
	var L [32]byte
	for ib := range scales {
		l := clampInt(nearestInt(fmul(id, scales[ib])), -32, 31)
		idl := inverse(fmul(d, float32(l)))
		for j := range L {
			L[j] = iq4Index(fmul(idl, x[32*ib+j]))
		}
		putIQ4(b[8+16*ib:8+16*ib+16], L[:])
		l += 32
		if ib%2 == 0 {
			b[4+ib/2] = byte(l & 0xf)
		} else {
			b[4+ib/2] |= byte(l&0xf) << 4
		}
		hi |= uint16(l>>4) << (2 * ib)
	}
	b[2], b[3] = byte(hi), byte(hi>>8)
}
