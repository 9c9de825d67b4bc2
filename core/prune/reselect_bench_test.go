package prune

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkReselect times the reselection of one layer of the Qwen2.5-0.5B
// shape (F 4864 neurons, H 896 outputs, ratio 0.2: 973 removed among a pool
// of 1.25 × as many) on a well-conditioned Gram matrix, and the refit of
// down_proj that follows it on its factor (s/refit), as Compensate runs
// them:
//
//	go test ./core/prune -run '^$' -bench Reselect -benchtime 1x
func BenchmarkReselect(b *testing.B) {
	const F, H, remove = 4864, 896, 973
	r := rand.New(rand.NewPCG(3, 3))
	G := make([]float64, F*F)
	for i := 0; i < F; i++ {
		for j := 0; j <= i; j++ {
			v := 0.01 * r.NormFloat64()
			if i == j {
				v = 1 + r.Float64()
			}
			G[i*F+j], G[j*F+i] = v, v
		}
	}
	w := make([]float32, H*F)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	perm := r.Perm(F)
	keep := append([]int(nil), perm[remove:]...)
	pool := append([]int(nil), perm[:remove*5/4]...)
	sortInts(keep)
	sortInts(pool)
	M := make([]float64, len(G))
	var refit float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		copy(M, G) // reselect overwrites its matrix
		b.StartTimer()
		rs, err := reselect(w, H, F, M, keep, pool, DefaultRidge)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		rs.refit(w, H, F)
		refit += time.Since(t0).Seconds()
	}
	b.ReportMetric(refit/float64(b.N), "s/refit")
}

func sortInts(v []int) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}
