package ops

// MatMul computes y[t, j] = sum_i x[t, i] * w[j, i] (+ bias[j] when bias is
// not nil) for t < n tokens, i < in, j < out. y has n*out elements.
//
// The loop is blocked four tokens by four weight rows so that every value
// loaded from memory is used four times; weight rows are the outer blocks so
// a block of W stays in cache while the tokens stream past it.
func MatMul(y, x, w, bias []float32, n, in, out int) {
	_ = y[n*out-1]
	_ = x[n*in-1]
	_ = w[out*in-1]
	parallel(out, 16, func(jlo, jhi int) {
		const tb = 64 // tokens per cache block
		for t0 := 0; t0 < n; t0 += tb {
			t1 := min(t0+tb, n)
			j := jlo
			for ; j+4 <= jhi; j += 4 {
				w0, w1, w2, w3 := w[j*in:(j+1)*in], w[(j+1)*in:(j+2)*in], w[(j+2)*in:(j+3)*in], w[(j+3)*in:(j+4)*in]
				t := t0
				for ; t+4 <= t1; t += 4 {
					dot4x4(y, x, w0, w1, w2, w3, t, j, in, out)
				}
				for ; t < t1; t++ {
					xr := x[t*in : (t+1)*in]
					y[t*out+j] = dot(xr, w0)
					y[t*out+j+1] = dot(xr, w1)
					y[t*out+j+2] = dot(xr, w2)
					y[t*out+j+3] = dot(xr, w3)
				}
			}
			for ; j < jhi; j++ {
				wr := w[j*in : (j+1)*in]
				for t := t0; t < t1; t++ {
					y[t*out+j] = dot(x[t*in:(t+1)*in], wr)
				}
			}
		}
		if bias != nil {
			for t := 0; t < n; t++ {
				row := y[t*out : (t+1)*out]
				for j := jlo; j < jhi; j++ {
					row[j] += bias[j]
				}
			}
		}
	})
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
