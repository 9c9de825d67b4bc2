package ops

import "math"

// GeluTanh applies the tanh approximation of GELU in place (Phi's
// "gelu_new"), element by element on every core.
func GeluTanh(x []float32) {
	const c = 0.7978845608028654 // sqrt(2/pi)
	parallel(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			u := float64(x[i])
			x[i] = float32(0.5 * u * (1 + math.Tanh(c*(u+float64(0.044715*u*u*u)))))
		}
	})
}
