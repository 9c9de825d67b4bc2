package ops

import "math"

// RMSNorm writes y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w for each of the
// n rows of width dim. y may alias x.
func RMSNorm(y, x, w []float32, n, dim int, eps float32) {
	for t := 0; t < n; t++ {
		xr, yr := x[t*dim:(t+1)*dim], y[t*dim:(t+1)*dim]
		var ss float64
		for _, v := range xr {
			ss += float64(float64(v) * float64(v))
		}
		inv := float32(1 / math.Sqrt(ss/float64(dim)+float64(eps)))
		for i, v := range xr {
			yr[i] = v * inv * w[i]
		}
	}
}
