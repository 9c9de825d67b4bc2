package ops

// MatMul computes y[t, j] = sum_i x[t, i] * w[j, i] (+ bias[j] when bias is
// not nil) for t < n tokens, i < in, j < out. y has n*out elements. Each sum
// is dot() of dot.go, so the bits do not depend on the CPU or the platform.
//
// Work is split over weight rows (blocks of the kernel's height); inside a
// worker, a block of weight rows stays in cache while a tile of tokens
// streams past it.
func MatMul(y, x, w, bias []float32, n, in, out int) {
	if n <= 0 || out <= 0 {
		return
	}
	_ = y[n*out-1]
	if in > 0 {
		_ = x[n*in-1]
		_ = w[out*in-1]
	}
	if bias != nil {
		_ = bias[out-1]
	}
	J := block.J
	parallel((out+J-1)/J, 1, func(blo, bhi int) {
		jlo, jhi := blo*J, min(bhi*J, out)
		const tb = 64 // tokens per tile
		for t0 := 0; t0 < n; t0 += tb {
			t1 := min(t0+tb, n)
			dots(y[t0*out+jlo:], out, x[t0*in:], in, w[jlo*in:], in, t1-t0, jhi-jlo, in)
		}
		if bias != nil {
			b := bias[jlo:jhi]
			for t := 0; t < n; t++ {
				row := y[t*out+jlo : t*out+jhi]
				for j := range row {
					row[j] += b[j]
				}
			}
		}
	})
}
