package ops

import (
	"fmt"
	"math/rand"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// BenchmarkMatMul reports GFLOP/s of MatMul at the shapes of a 256-token
// prefill of smollm-135m and qwen2.5-0.5b.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range []struct{ n, in, out int }{
		{256, 576, 576}, {256, 576, 1536}, {256, 1536, 576},
		{256, 896, 4864}, {256, 4864, 896},
	} {
		b.Run(fmt.Sprintf("n%d_in%d_out%d", s.n, s.in, s.out), func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x, w := randSlice(r, s.n*s.in), randSlice(r, s.out*s.in)
			y := make([]float32, s.n*s.out)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				MatMul(y, x, w, nil, s.n, s.in, s.out)
			}
			flop := 2 * float64(s.n) * float64(s.in) * float64(s.out) * float64(b.N)
			b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
