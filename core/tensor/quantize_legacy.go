package tensor

import "math"

// Quantizers for the 32-value block formats, written to give the same bytes
// as ggml's quantize_row_*_ref (the reference llama.cpp's quantizer uses when
// no importance matrix is given): the same float32 operations in the same
// order, the same rounding (C's float-to-int conversion truncates, roundf
// rounds halves away from zero), and float16 scales rounded to nearest even.

// fmul is a float32 product rounded on its own: Go may otherwise fuse a
// multiply and an add into one FMA, which C on x86-64 does not.
func fmul(a, b float32) float32 { return float32(a * b) }

func putHalf(b []byte, f float32) {
	h := F32ToF16(f)
	b[0], b[1] = byte(h), byte(h>>8)
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// inverse is ggml's `d ? 1.0f/d : 0.0f`.
func inverse(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

func quantQ8_0(b []byte, x []float32) {
	amax := float32(0)
	for _, v := range x[:32] {
		if a := abs32(v); a > amax {
			amax = a
		}
	}
	d := amax / 127
	id := inverse(d)
	putHalf(b, d)
	for j := 0; j < 32; j++ {
		b[2+j] = byte(int8(math.Round(float64(fmul(x[j], id)))))
	}
}

// absMax returns the value of largest magnitude (the first one on ties).
func absMax(x []float32) float32 {
	amax, m := float32(0), float32(0)
	for _, v := range x {
		if amax < abs32(v) {
			amax, m = abs32(v), v
		}
	}
	return m
}

// minMax returns the smallest and largest values.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

func quantQ4_0(b []byte, x []float32) {
	d := absMax(x[:32]) / -8
	id := inverse(d)
	putHalf(b, d)
	for j := 0; j < 16; j++ {
		q0 := min(15, int(int8(fmul(x[j], id)+8.5)))
		q1 := min(15, int(int8(fmul(x[j+16], id)+8.5)))
		b[2+j] = byte(q0) | byte(q1)<<4
	}
}

func quantQ4_1(b []byte, x []float32) {
	lo, hi := minMax(x[:32])
	d := (hi - lo) / 15
	id := inverse(d)
	putHalf(b, d)
	putHalf(b[2:], lo)
	for j := 0; j < 16; j++ {
		q0 := min(15, int(int8(fmul(x[j]-lo, id)+0.5)))
		q1 := min(15, int(int8(fmul(x[j+16]-lo, id)+0.5)))
		b[4+j] = byte(q0) | byte(q1)<<4
	}
}

// putQ5 stores 32 five-bit values: low nibbles in qs, fifth bits in qh.
func putQ5(qh, qs []byte, q *[32]byte) {
	var h uint32
	for j := 0; j < 16; j++ {
		qs[j] = q[j]&0x0f | (q[j+16]&0x0f)<<4
		h |= uint32(q[j]>>4&1) << uint(j)
		h |= uint32(q[j+16]>>4&1) << uint(j+16)
	}
	qh[0], qh[1], qh[2], qh[3] = byte(h), byte(h>>8), byte(h>>16), byte(h>>24)
}

func quantQ5_0(b []byte, x []float32) {
	d := absMax(x[:32]) / -16
	id := inverse(d)
	putHalf(b, d)
	var q [32]byte
	for j := 0; j < 32; j++ {
		q[j] = byte(min(31, int(int8(fmul(x[j], id)+16.5))))
	}
	putQ5(b[2:6], b[6:22], &q)
}

func quantQ5_1(b []byte, x []float32) {
	lo, hi := minMax(x[:32])
	d := (hi - lo) / 31
	id := inverse(d)
	putHalf(b, d)
	putHalf(b[2:], lo)
	var q [32]byte
	for j := 0; j < 32; j++ {
		q[j] = byte(uint8(fmul(x[j]-lo, id) + 0.5))
	}
	putQ5(b[4:8], b[8:24], &q)
}
