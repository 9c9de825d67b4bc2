package ops

import "math"

// Rope rotates, in place, the first rotDim dimensions of every head of x
// ([n, heads*headDim]) by position pos[t], in the "half split" layout that
// Hugging Face uses (dimension i pairs with i + rotDim/2). invFreq has
// rotDim/2 entries; scale multiplies cos and sin (longrope's attention factor,
// 1 otherwise). Dimensions past rotDim pass through (partial rotary).
func Rope(x []float32, pos []int, n, heads, headDim, rotDim int, invFreq []float32, scale float32) {
	half := rotDim / 2
	cos := make([]float32, half)
	sin := make([]float32, half)
	for t := 0; t < n; t++ {
		for i := 0; i < half; i++ {
			// float64 angle: positions in the thousands times small
			// frequencies lose digits in float32.
			a := float64(pos[t]) * float64(invFreq[i])
			cos[i] = float32(math.Cos(a)) * scale
			sin[i] = float32(math.Sin(a)) * scale
		}
		for h := 0; h < heads; h++ {
			v := x[(t*heads+h)*headDim:]
			for i := 0; i < half; i++ {
				a, b := v[i], v[i+half]
				v[i] = float32(a*cos[i]) - float32(b*sin[i])
				v[i+half] = float32(b*cos[i]) + float32(a*sin[i])
			}
		}
	}
}
