package ops

import (
	"math"
	"math/rand"
	"testing"
)

func wild64(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.NormFloat64() * math.Exp(3*r.NormFloat64())
	}
	return s
}

// refSubABt is gemm64.go's definition written out plainly: C[i][j] is
// lowered once by the in-order sum of rounded products.
func refSubABt(C []float64, ldc int, A []float64, lda int, B []float64, ldb int, m, nc, p int) {
	for i := 0; i < m; i++ {
		for j := 0; j < nc; j++ {
			s := 0.0
			for k := 0; k < p; k++ {
				s += float64(A[i*lda+k] * B[j*ldb+k])
			}
			C[i*ldc+j] -= s
		}
	}
}

func bitsEqual64(a, b []float64) int {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestSubABt64SameBitsEveryKernel: SubABt64, SubAB64 (the right operand
// given transposed) and a Panel64 used for fewer columns than it holds
// give the definition's bits with every kernel set, for shapes with every
// kind of remainder (rows, columns, strides wider than the matrices).
func TestSubABt64SameBitsEveryKernel(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	sets := kernelSets(t)
	t.Logf("kernel sets: %v", sets)
	shapes := [][3]int{{1, 1, 1}, {8, 16, 1}, {8, 16, 7}, {9, 17, 3}, {16, 32, 96}, {3, 5, 200}, {33, 600, 11}, {20, 530, 40}}
	for i := 0; i < 20; i++ {
		shapes = append(shapes, [3]int{1 + r.Intn(40), 1 + r.Intn(70), 1 + r.Intn(120)})
	}
	for _, sh := range shapes {
		m, nc, p := sh[0], sh[1], sh[2]
		ldc, lda, ldb := nc+r.Intn(3), p+r.Intn(3), p+r.Intn(3)
		C0, A, B := wild64(r, m*ldc), wild64(r, m*lda), wild64(r, nc*ldb)
		// Bᵀ stored as [p, nc] for SubAB64.
		ldt := nc + 1
		BT := make([]float64, p*ldt)
		for j := 0; j < nc; j++ {
			for k := 0; k < p; k++ {
				BT[k*ldt+j] = B[j*ldb+k]
			}
		}
		want := append([]float64(nil), C0...)
		refSubABt(want, ldc, A, lda, B, ldb, m, nc, p)
		for _, set := range sets {
			useSIMD(set)
			for _, threads := range []int{1, 3} {
				Threads = threads
				got := append([]float64(nil), C0...)
				SubABt64(got, ldc, A, lda, B, ldb, m, nc, p)
				if i := bitsEqual64(got, want); i >= 0 {
					t.Fatalf("%s SubABt64 m=%d nc=%d p=%d: C[%d] = %v, want %v", set, m, nc, p, i, got[i], want[i])
				}
				got = append(got[:0], C0...)
				SubAB64(got, ldc, A, lda, BT, ldt, m, nc, p)
				if i := bitsEqual64(got, want); i >= 0 {
					t.Fatalf("%s SubAB64 m=%d nc=%d p=%d: C[%d] = %v, want %v", set, m, nc, p, i, got[i], want[i])
				}
			}
			Threads = 0
			// A panel of all nc columns used for the first w of them.
			w := 1 + r.Intn(nc)
			part := append([]float64(nil), C0...)
			refSubABt(part, ldc, A, lda, B, ldb, m, w, p)
			got := append([]float64(nil), C0...)
			PackBt64(B, ldb, nc, p).Sub(got, ldc, A, lda, m, w)
			if i := bitsEqual64(got, part); i >= 0 {
				t.Fatalf("%s Panel64.Sub m=%d nc=%d/%d p=%d: C[%d] = %v, want %v", set, m, w, nc, p, i, got[i], part[i])
			}
		}
	}
}

// TestGramUpperSameBitsEveryKernel: on and above the diagonal, GramUpper
// adds the definition's bits to what g held, with every kernel set, for
// widths and token counts with every kind of remainder (tiles, panels,
// blocks, packed chunks), in the natural column order and in a permuted
// one with fewer rows, wider strides and columns left out.
func TestGramUpperSameBitsEveryKernel(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	sets := kernelSets(t)
	for _, sh := range [][2]int{{1, 1}, {8, 1}, {32, 256}, {33, 257}, {7, 300}, {70, 1100}, {96, 2049}, {41, 513}, {130, 64}} {
		d, n := sh[0], sh[1]
		x := wild(r, n*d)
		for _, permuted := range []bool{false, true} {
			ldx, rows, ldg := d, d, d
			var cols []int
			xs := x
			if permuted {
				// x as the d of ldx columns named by cols, in cols' order.
				ldx = d + 5
				cols = r.Perm(ldx)[:d]
				rows = 1 + r.Intn(d)
				ldg = d + 3
				xs = make([]float32, n*ldx)
				for tk := 0; tk < n; tk++ {
					for c, j := range cols {
						xs[tk*ldx+j] = x[tk*d+c]
					}
				}
			}
			g0 := wild64(r, rows*ldg)
			for _, set := range sets {
				useSIMD(set)
				for _, threads := range []int{1, 3} {
					Threads = threads
					got := append([]float64(nil), g0...)
					GramUpper(got, ldg, rows, xs, ldx, n, cols)
					for i := 0; i < rows; i++ {
						for j := 0; j < d; j++ {
							k := i*ldg + j
							if j < i {
								continue
							}
							want := addBlocks(g0[k], x, d, n, i, j)
							if math.Float64bits(got[k]) != math.Float64bits(want) {
								t.Fatalf("%s, %d threads, d=%d n=%d permuted=%v: g[%d][%d] = %v, want %v", set, threads, d, n, permuted, i, j, got[k], want)
							}
						}
					}
				}
				Threads = 0
			}
		}
	}
}

// addBlocks is the definition for one entry: g plus each block's float32
// sum of x[t][i]·x[t][j], in order.
func addBlocks(g float64, x []float32, d, n, i, j int) float64 {
	for t0 := 0; t0 < n; t0 += GramBlock {
		var s float32
		for t := t0; t < min(t0+GramBlock, n); t++ {
			s += float32(x[t*d+i] * x[t*d+j])
		}
		g += float64(s)
	}
	return g
}
