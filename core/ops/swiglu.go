package ops

// SwiGLU writes a[i] = silu(gate[i]) * up[i]; a may alias gate or up.
// Elements are independent, so chunks run on every core with the same
// result.
func SwiGLU(a, gate, up []float32) {
	parallel(len(gate), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate[i]
			a[i] = g / (1 + exp32(-g)) * up[i]
		}
	})
}
