package ops

// The dot product, defined so that SIMD and scalar code compute the same bits.
//
// dot(a, b) over k elements is, by definition:
//
//  1. Sixteen lane sums. With m = k rounded down to a multiple of 16, lane l
//     (0 <= l < 16) starts at +0 and adds, for j = l, l+16, l+32, ... < m in
//     that order, the product a[j]*b[j] rounded to float32 (a multiply, then
//     an add: never a fused multiply-add).
//  2. A fixed reduction tree: c[i] = s[i] + s[i+8] (i < 8), d[i] = c[i] + c[i+4]
//     (i < 4), e[i] = d[i] + d[i+2] (i < 2), r = e[0] + e[1].
//  3. The tail: for j = m, m+1, ..., k-1 in order, r += a[j]*b[j] (rounded
//     product, then add).
//
// Every kernel (pure Go below, AVX2 and AVX-512 in dot_amd64.s) produces these
// lane sums exactly: a 256-bit register holds lanes 0-7 or 8-15, a 512-bit one
// all sixteen, and the scalar fallback walks one lane at a time. So results are
// bit-for-bit the same natively, under GOOS=wasip1/js, and whatever the CPU.
// The explicit float32(...) conversions around products stop the Go compiler
// from fusing a multiply and an add (it does with GOAMD64=v3 otherwise).
const lanes = 16

// laneKernel adds to acc the lane sums of one dot product over the first k
// elements of x and w (k a multiple of 16): acc[l] continues lane l. It reads
// acc first, so a dot product may be done in pieces.
type laneKernel func(acc, x, w []float32, k int)

// blockKernel computes a block of T x-rows by J w-rows over the first k
// elements (k a multiple of 16), lanes from zero, reduced in the fixed tree:
// y[t*ys+j] = reduce(lanes of x row t . w row j), where row t of x starts at
// x[t*xs] and row j of w at w[j*ws]. The tail is the caller's.
type blockKernel struct {
	T, J int
	fn   func(y []float32, ys int, x []float32, xs int, w []float32, ws int, k int)
}

// The kernels in use; dot_amd64.go switches them to assembly when the CPU has
// AVX2 or AVX-512.
var (
	block = blockKernel{4, 4, block4x4}
	one   = laneKernel(lanes1x1)
)

// finish reduces sixteen lane sums in the fixed tree and adds the tail
// products xt[i]*wt[i] in order.
func finish(s *[lanes]float32, xt, wt []float32) float32 {
	c0, c1, c2, c3 := s[0]+s[8], s[1]+s[9], s[2]+s[10], s[3]+s[11]
	c4, c5, c6, c7 := s[4]+s[12], s[5]+s[13], s[6]+s[14], s[7]+s[15]
	d0, d1, d2, d3 := c0+c4, c1+c5, c2+c6, c3+c7
	e0, e1 := d0+d2, d1+d3
	return tail(e0+e1, xt, wt)
}

// tail adds the products xt[i]*wt[i] to r in order.
func tail(r float32, xt, wt []float32) float32 {
	wt = wt[:len(xt)]
	for i, a := range xt {
		r += float32(a * wt[i])
	}
	return r
}

// dots computes y[t*ys+j] = dot(x[t*xs:][:k], w[j*ws:][:k]) for t < nt and
// j < nj, serially, in blocks of the fastest kernel.
func dots(y []float32, ys int, x []float32, xs int, w []float32, ws int, nt, nj, k int) {
	if nt <= 0 || nj <= 0 {
		return
	}
	if k > 0 {
		_ = x[(nt-1)*xs+k-1]
		_ = w[(nj-1)*ws+k-1]
	}
	_ = y[(nt-1)*ys+nj-1]
	m := k &^ (lanes - 1)
	T, J := block.T, block.J
	var one16 [lanes]float32
	j := 0
	for ; j+J <= nj; j += J {
		t := 0
		for ; t+T <= nt; t += T {
			block.fn(y[t*ys+j:], ys, x[t*xs:], xs, w[j*ws:], ws, m)
			if m < k {
				for a := 0; a < T; a++ {
					xr := x[(t+a)*xs:]
					yr := y[(t+a)*ys+j : (t+a)*ys+j+J]
					for b := range yr {
						yr[b] = tail(yr[b], xr[m:k], w[(j+b)*ws+m:(j+b)*ws+k])
					}
				}
			}
		}
		for ; t < nt; t++ {
			for b := 0; b < J; b++ {
				y[t*ys+j+b] = dotOne(&one16, x[t*xs:], w[(j+b)*ws:], m, k)
			}
		}
	}
	for ; j < nj; j++ {
		for t := 0; t < nt; t++ {
			y[t*ys+j] = dotOne(&one16, x[t*xs:], w[j*ws:], m, k)
		}
	}
}

func dotOne(acc *[lanes]float32, x, w []float32, m, k int) float32 {
	clear(acc[:])
	if m > 0 {
		one(acc[:], x, w, m)
	}
	return finish(acc, x[m:k], w[m:k])
}

// block4x4 is the pure-Go block kernel.
func block4x4(y []float32, ys int, x []float32, xs int, w []float32, ws int, k int) {
	var acc [16 * lanes]float32
	if k > 0 {
		lanes4x4(acc[:], x, xs, w, ws, k)
	}
	for a := 0; a < 4; a++ {
		yr := y[a*ys : a*ys+4]
		for b := range yr {
			yr[b] = finish((*[lanes]float32)(acc[(a*4+b)*lanes:]), nil, nil)
		}
	}
}

// lanes1x1 is the pure-Go kernel for one dot product.
func lanes1x1(acc, x, w []float32, k int) {
	x, w = x[:k], w[:k]
	a := (*[lanes]float32)(acc[:lanes])
	s0, s1, s2, s3, s4, s5, s6, s7 := a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
	s8, s9, s10, s11, s12, s13, s14, s15 := a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]
	for i := 0; i+lanes <= len(x); i += lanes {
		p := (*[lanes]float32)(x[i : i+lanes])
		q := (*[lanes]float32)(w[i : i+lanes])
		s0 += float32(p[0] * q[0])
		s1 += float32(p[1] * q[1])
		s2 += float32(p[2] * q[2])
		s3 += float32(p[3] * q[3])
		s4 += float32(p[4] * q[4])
		s5 += float32(p[5] * q[5])
		s6 += float32(p[6] * q[6])
		s7 += float32(p[7] * q[7])
		s8 += float32(p[8] * q[8])
		s9 += float32(p[9] * q[9])
		s10 += float32(p[10] * q[10])
		s11 += float32(p[11] * q[11])
		s12 += float32(p[12] * q[12])
		s13 += float32(p[13] * q[13])
		s14 += float32(p[14] * q[14])
		s15 += float32(p[15] * q[15])
	}
	a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7] = s0, s1, s2, s3, s4, s5, s6, s7
	a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15] = s8, s9, s10, s11, s12, s13, s14, s15
}

// lanes4x4 is the pure-Go block kernel: four x-rows by four w-rows, one lane
// at a time, so that sixteen running sums stay in registers and every loaded
// value is used four times.
func lanes4x4(acc, x []float32, xs int, w []float32, ws int, k int) {
	x0, x1, x2, x3 := x[:k], x[xs:xs+k], x[2*xs:2*xs+k], x[3*xs:3*xs+k]
	w0, w1, w2, w3 := w[:k], w[ws:ws+k], w[2*ws:2*ws+k], w[3*ws:3*ws+k]
	acc = acc[:16*lanes]
	x1, x2, x3 = x1[:len(x0)], x2[:len(x0)], x3[:len(x0)]
	w0, w1, w2, w3 = w0[:len(x0)], w1[:len(x0)], w2[:len(x0)], w3[:len(x0)]
	for l := 0; l < lanes; l++ {
		s00, s01, s02, s03 := acc[0*lanes+l], acc[1*lanes+l], acc[2*lanes+l], acc[3*lanes+l]
		s10, s11, s12, s13 := acc[4*lanes+l], acc[5*lanes+l], acc[6*lanes+l], acc[7*lanes+l]
		s20, s21, s22, s23 := acc[8*lanes+l], acc[9*lanes+l], acc[10*lanes+l], acc[11*lanes+l]
		s30, s31, s32, s33 := acc[12*lanes+l], acc[13*lanes+l], acc[14*lanes+l], acc[15*lanes+l]
		for i := l; i < len(x0); i += lanes {
			b0, b1, b2, b3 := w0[i], w1[i], w2[i], w3[i]
			a := x0[i]
			s00 += float32(a * b0)
			s01 += float32(a * b1)
			s02 += float32(a * b2)
			s03 += float32(a * b3)
			a = x1[i]
			s10 += float32(a * b0)
			s11 += float32(a * b1)
			s12 += float32(a * b2)
			s13 += float32(a * b3)
			a = x2[i]
			s20 += float32(a * b0)
			s21 += float32(a * b1)
			s22 += float32(a * b2)
			s23 += float32(a * b3)
			a = x3[i]
			s30 += float32(a * b0)
			s31 += float32(a * b1)
			s32 += float32(a * b2)
			s33 += float32(a * b3)
		}
		acc[0*lanes+l], acc[1*lanes+l], acc[2*lanes+l], acc[3*lanes+l] = s00, s01, s02, s03
		acc[4*lanes+l], acc[5*lanes+l], acc[6*lanes+l], acc[7*lanes+l] = s10, s11, s12, s13
		acc[8*lanes+l], acc[9*lanes+l], acc[10*lanes+l], acc[11*lanes+l] = s20, s21, s22, s23
		acc[12*lanes+l], acc[13*lanes+l], acc[14*lanes+l], acc[15*lanes+l] = s30, s31, s32, s33
	}
}
