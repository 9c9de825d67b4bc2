package ops

import "math"

// LayerNorm writes y[t] = (x[t] - mean) / sqrt(var + eps) * w + b for each of
// the n rows of width dim. y may alias x.
func LayerNorm(y, x, w, b []float32, n, dim int, eps float32) {
	for t := 0; t < n; t++ {
		xr, yr := x[t*dim:(t+1)*dim], y[t*dim:(t+1)*dim]
		var s float64
		for _, v := range xr {
			s += float64(v)
		}
		mean := s / float64(dim)
		var ss float64
		for _, v := range xr {
			d := float64(v) - mean
			ss += float64(d * d)
		}
		inv := 1 / math.Sqrt(ss/float64(dim)+float64(eps))
		for i, v := range xr {
			yr[i] = float32(float32((float64(v)-mean)*inv)*w[i]) + b[i]
		}
	}
}
