package ops

// SwiGLU writes a[i] = silu(gate[i]) * up[i]; a may alias gate or up.
func SwiGLU(a, gate, up []float32) {
	for i, g := range gate {
		a[i] = g / (1 + exp32(-g)) * up[i]
	}
}
