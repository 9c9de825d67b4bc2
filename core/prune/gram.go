package prune

import "github.com/cusprun/cusprun/core/ops"

// gram accumulates, over rows x of width d (one row per token), the Gram
// matrix XᵀX and the column sums of X in float64: what a least-squares refit
// of the weights that read X needs (compensate.go). Products of a block of
// tokens are formed in float32 by ops.MatMul (the fast kernel) and added to
// the float64 sums block by block, so rounding grows with the block, not
// with the whole calibration set.
type gram struct {
	d   int
	g   []float64 // [d, d]; only the upper triangle is filled until full()
	sum []float64
	n   int
	xt  []float32 // one block of tokens, transposed: [d, gramTokens]
	y   []float32 // one row block of products: [gramRows, d]
}

// gramTokens is how many tokens one float32 product sums over;
// gramRows is how many Gram rows one call of the kernel fills.
const (
	gramTokens = 256
	gramRows   = 128
)

func newGram(d int) *gram {
	return &gram{d: d, g: make([]float64, d*d), sum: make([]float64, d),
		xt: make([]float32, d*gramTokens), y: make([]float32, gramRows*d)}
}

// add takes n rows of x ([n, d]).
func (g *gram) add(x []float32, n int) {
	d := g.d
	for t0 := 0; t0 < n; t0 += gramTokens {
		nb := min(gramTokens, n-t0)
		for t := 0; t < nb; t++ {
			row := x[(t0+t)*d : (t0+t+1)*d]
			for i, v := range row {
				g.xt[i*nb+t] = v
				g.sum[i] += float64(v)
			}
		}
		// Row block [i0, i1) against columns [i0, d): the upper triangle
		// at block granularity, about half the products of the full matrix.
		for i0 := 0; i0 < d; i0 += gramRows {
			i1 := min(i0+gramRows, d)
			out := d - i0
			ops.MatMul(g.y[:(i1-i0)*out], g.xt[i0*nb:i1*nb], g.xt[i0*nb:d*nb], nil, i1-i0, nb, out)
			ops.Parallel(i1-i0, 8, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					dst := g.g[(i0+r)*d+i0 : (i0+r+1)*d]
					for j, v := range g.y[r*out : (r+1)*out] {
						dst[j] += float64(v)
					}
				}
			})
		}
		g.n += nb
	}
}

// full mirrors the upper triangle into the lower one and returns the
// symmetric matrix; call it once, after the last add.
func (g *gram) full() []float64 {
	d := g.d
	for i := 0; i < d; i++ {
		for j := i + 1; j < d; j++ {
			g.g[j*d+i] = g.g[i*d+j]
		}
	}
	return g.g
}

// mean is the mean row.
func (g *gram) mean() []float64 {
	m := make([]float64, g.d)
	for i, s := range g.sum {
		m[i] = s / float64(max(g.n, 1))
	}
	return m
}
