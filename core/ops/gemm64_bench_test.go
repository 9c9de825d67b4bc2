package ops

import (
	"fmt"
	"math/rand"
	"testing"
)

// BenchmarkGramUpper reports multiply-adds per second (upper triangle
// only) of GramUpper at the widths of Qwen2.5-0.5B's o_proj and down_proj
// inputs, for 1024 rows and for a document of 300 tokens (a whole block
// and a short one: blocks start at each document's first token).
//
//	go test ./core/ops -run '^$' -bench 'GramUpper|SubABt64'
func BenchmarkGramUpper(b *testing.B) {
	for _, s := range [][2]int{{896, 1024}, {4864, 1024}, {4864, 300}} {
		d, n := s[0], s[1]
		b.Run(fmt.Sprintf("d%d_n%d", d, n), func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x := randSlice(r, n*d)
			g := make([]float64, d*d)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				GramUpper(g, d, d, x, d, n, nil)
			}
			mac := float64(n) * float64(d) * float64(d) / 2 * float64(b.N)
			b.ReportMetric(mac/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}

// BenchmarkSubABt64 reports multiply-adds per second of SubABt64 at the
// shape of a Cholesky trailing update and of a refit's right-hand side.
func BenchmarkSubABt64(b *testing.B) {
	for _, s := range [][3]int{{1024, 1024, 96}, {896, 3891, 973}} {
		m, nc, p := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("m%d_n%d_p%d", m, nc, p), func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			A, B, C := wild64(r, m*p), wild64(r, nc*p), make([]float64, m*nc)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				SubABt64(C, nc, A, p, B, p, m, nc, p)
			}
			b.ReportMetric(float64(m)*float64(nc)*float64(p)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
