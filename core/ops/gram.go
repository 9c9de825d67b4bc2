package ops

// GramUpper is the Gram matrix XᵀX of activations (one row per token), for
// the least-squares refit of core/prune. The definition, whatever the
// kernel: for each block of GramBlock tokens, counted from x's first row,
// s[i][j] = Σ_t x[t][i]·x[t][j] in float32, in order of t, each product
// rounded before it is added; then g[i][j] += float64(s[i][j]). So rounding
// grows with the block, not with the calibration set, and every kernel gives
// the same bits.
//
// The tiles (8 rows by 32 columns) read x packed in panels of 32 columns,
// token-major ([tokens][32] per panel): per token a tile loads 32 values of
// its columns and broadcasts 8 of its rows, and keeps the 256 sums in
// registers for the whole block; no transposed copy of x, no horizontal
// sums, and g is read and written once per block.

// GramBlock is how many tokens one float32 sum spans.
const GramBlock = 256

// gramChunk is how many tokens are packed at once (a multiple of
// GramBlock): each tile then adds into its part of g while it is in cache.
const gramChunk = 1024

// gramTile adds, for rows r < 8 and columns c < 32, the block sums of
// a[t*32+r]·b[t*32+c] over n tokens to g[r*ldg+c] (the assembly twin in
// gemm64_amd64.s).
var gramTile = gramTileGo

// GramUpper adds to g the Gram matrix of n rows of x (row stride ldx) over
// the columns cols, in that order (nil: the first ldx columns), d of them:
// g[i][j] += Σ_t x[t][cols[i]]·x[t][cols[j]] for every i < rows ≤ d and
// j ≥ i, g's row i at g[i*ldg:] with d values. Some entries just below the
// diagonal get sums too, which the caller must ignore (it mirrors the upper
// triangle when it is done). The order lets a refit put the inputs it keeps
// first and skip the block of the removed ones against each other.
func GramUpper(g []float64, ldg, rows int, x []float32, ldx, n int, cols []int) {
	d := ldx
	if cols != nil {
		d = len(cols)
	}
	rows = min(rows, d)
	if n <= 0 || rows <= 0 {
		return
	}
	_, _ = g[(rows-1)*ldg+d-1], x[(n-1)*ldx+ldx-1]
	np := (d + 31) / 32
	pack := make([]float32, np*min(gramChunk, n)*32)
	for t0 := 0; t0 < n; t0 += gramChunk {
		nb := min(gramChunk, n-t0)
		Parallel(np, 1, func(lo, hi int) {
			for q := lo; q < hi; q++ {
				dst := pack[q*nb*32 : (q+1)*nb*32]
				w := min(32, d-q*32)
				for t := 0; t < nb; t++ {
					xt := x[(t0+t)*ldx : (t0+t+1)*ldx]
					out := dst[t*32 : t*32+32]
					if cols == nil {
						copy(out[:w], xt[q*32:q*32+w])
					} else {
						for c, j := range cols[q*32 : q*32+w] {
							out[c] = xt[j]
						}
					}
					clear(out[w:])
				}
			}
		})
		// Row panel p (32 rows, four row tiles) has np - p panels to its
		// right: pairing the first with the last evens the work per item.
		rp := (rows + 31) / 32
		Parallel((rp+1)/2, 1, func(lo, hi int) {
			tmp := make([]float64, 8*32)
			for p := lo; p < hi; p++ {
				gramRowPanel(g, ldg, rows, d, pack, nb, np, p, tmp)
				if o := rp - 1 - p; o != p {
					gramRowPanel(g, ldg, rows, d, pack, nb, np, o, tmp)
				}
			}
		})
	}
}

// gramRowPanel adds rows [32p, 32p+32) of one packed chunk's Gram matrix,
// from the panel of the diagonal to the last. The four row tiles take each
// column panel in turn while it is in cache: the packed chunk (20 MB for
// 1024 tokens of 4864 columns) is then streamed from memory once per row
// panel instead of once per row tile.
func gramRowPanel(g []float64, ldg, rows, d int, pack []float32, nb, np, p int, tmp []float64) {
	a := pack[p*nb*32 : (p+1)*nb*32]
	for q := p; q < np; q++ {
		j := q * 32
		nj := min(32, d-j)
		b := pack[q*nb*32 : (q+1)*nb*32]
		for r0 := 0; r0 < 32; r0 += 8 {
			i0 := p*32 + r0
			if i0 >= rows {
				break
			}
			mi := min(8, rows-i0)
			if mi == 8 && nj == 32 {
				gramTile(a[r0:], b, nb, g[i0*ldg+j:], ldg)
				continue
			}
			// An edge tile adds into a copy of the valid part of g.
			clear(tmp)
			for r := 0; r < mi; r++ {
				copy(tmp[r*32:r*32+nj], g[(i0+r)*ldg+j:(i0+r)*ldg+j+nj])
			}
			gramTile(a[r0:], b, nb, tmp, 32)
			for r := 0; r < mi; r++ {
				copy(g[(i0+r)*ldg+j:(i0+r)*ldg+j+nj], tmp[r*32:r*32+nj])
			}
		}
	}
}

// gramTileGo is the definition in Go, 4×4 sums at a time.
func gramTileGo(a, b []float32, n int, g []float64, ldg int) {
	for t0 := 0; t0 < n; t0 += GramBlock {
		t1 := min(t0+GramBlock, n)
		for r0 := 0; r0 < 8; r0 += 4 {
			for c0 := 0; c0 < 32; c0 += 4 {
				var s [16]float32
				for t := t0; t < t1; t++ {
					x := a[t*32+r0 : t*32+r0+4]
					y := b[t*32+c0 : t*32+c0+4]
					for r := 0; r < 4; r++ {
						xr := x[r]
						// float32(): a rounded product, never fused.
						s[4*r] += float32(xr * y[0])
						s[4*r+1] += float32(xr * y[1])
						s[4*r+2] += float32(xr * y[2])
						s[4*r+3] += float32(xr * y[3])
					}
				}
				for r := 0; r < 4; r++ {
					row := g[(r0+r)*ldg+c0 : (r0+r)*ldg+c0+4]
					for c := range row {
						row[c] += float64(s[4*r+c])
					}
				}
			}
		}
	}
}
