package ops

// Float64 products of panels, for the least-squares refit of core/prune: its
// Cholesky factorisation and triangular solves spend nearly all their time
// in C -= A Bᵀ. The definition, whatever the kernel: every C[i][j] is lowered
// once, by the sum over k in order of A[i][k]·B[j][k], each product rounded
// before it is added and the sum started from zero (no fused multiply-add).
// The pure-Go loops and the assembly tiles therefore give the same bits, as
// the float32 kernels do (doc.go).
//
// The tiles read both operands packed: B once per call into panels of nr
// columns, k-major ([p][nr] per panel), shared by every worker; A per tile of
// mr rows ([p][mr]). A tile then loads nr values of B and broadcasts mr of A
// per k, and keeps its mr×nr sums in registers for the whole of k.

// tile64 is the assembly tile in use (gemm64_amd64.go), nil for the Go loops.
// fn lowers c[r][0:nr] (row stride ldc) by Σ_k a[k*mr+r]·b[k*nr:(k+1)*nr],
// r < mr.
type tile64 struct {
	mr, nr int
	fn     func(a, b []float64, p int, c []float64, ldc int)
}

var gemmTile *tile64

// Panel64 is the B operand of SubABt64 prepared once for any number of
// row blocks of A and C (from several goroutines at once).
type Panel64 struct {
	nc, p int
	t     *tile64
	// With a tile: ceil(nc/nr) panels of [p][nr], zero past nc. Without:
	// B as rows, [nc][p].
	data []float64
}

// PackBt64 prepares B given as rows, [nc, p] with row stride ldb.
func PackBt64(B []float64, ldb, nc, p int) *Panel64 {
	pb := &Panel64{nc: nc, p: p, t: gemmTile}
	if pb.t == nil {
		pb.data = make([]float64, nc*p)
		for j := 0; j < nc; j++ {
			copy(pb.data[j*p:(j+1)*p], B[j*ldb:j*ldb+p])
		}
		return pb
	}
	nr := pb.t.nr
	np := (nc + nr - 1) / nr
	pb.data = make([]float64, np*p*nr)
	Parallel(np, 1, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			dst := pb.data[q*p*nr : (q+1)*p*nr]
			for c := 0; c < nr && q*nr+c < nc; c++ {
				row := B[(q*nr+c)*ldb : (q*nr+c)*ldb+p]
				for k, v := range row {
					dst[k*nr+c] = v
				}
			}
		}
	})
	return pb
}

// PackB64 prepares Bᵀ's rows: B is given as [p, nc] with row stride ldb
// (B[k][j] is the definition's B[j][k]), as when the right operand is a
// triangle's transpose.
func PackB64(B []float64, ldb, nc, p int) *Panel64 {
	pb := &Panel64{nc: nc, p: p, t: gemmTile}
	if pb.t == nil {
		pb.data = make([]float64, nc*p)
		Parallel(nc, 64, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				for k := 0; k < p; k++ {
					pb.data[j*p+k] = B[k*ldb+j]
				}
			}
		})
		return pb
	}
	nr := pb.t.nr
	np := (nc + nr - 1) / nr
	pb.data = make([]float64, np*p*nr)
	Parallel(np, 1, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			dst := pb.data[q*p*nr : (q+1)*p*nr]
			w := min(nr, nc-q*nr)
			for k := 0; k < p; k++ {
				copy(dst[k*nr:k*nr+w], B[k*ldb+q*nr:k*ldb+q*nr+w])
			}
		}
	})
	return pb
}

// Sub lowers C [m, nc] (row stride ldc) by A Bᵀ, A [m, p] with row stride
// lda, for the first nc ≤ the panel's columns. It runs on the calling
// goroutine; callers split the rows.
func (pb *Panel64) Sub(C []float64, ldc int, A []float64, lda int, m, nc int) {
	p := pb.p
	if p == 0 || m == 0 || nc == 0 {
		return
	}
	if nc > pb.nc {
		panic("ops: Panel64.Sub past the packed columns")
	}
	t := pb.t
	if t == nil {
		subABtGo(C, ldc, A, lda, pb.data, p, m, nc, p)
		return
	}
	mr, nr := t.mr, t.nr
	ap := make([]float64, p*mr)
	tmp := make([]float64, mr*nr)
	for i0 := 0; i0 < m; i0 += mr {
		mi := min(mr, m-i0)
		for r := 0; r < mr; r++ {
			if r >= mi {
				for k := 0; k < p; k++ {
					ap[k*mr+r] = 0
				}
				continue
			}
			for k, v := range A[(i0+r)*lda : (i0+r)*lda+p] {
				ap[k*mr+r] = v
			}
		}
		for q := 0; q*nr < nc; q++ {
			j := q * nr
			nj := min(nr, nc-j)
			bq := pb.data[q*p*nr : (q+1)*p*nr]
			if mi == mr && nj == nr {
				t.fn(ap, bq, p, C[i0*ldc+j:], ldc)
				continue
			}
			// An edge tile works on a copy of the valid part of C, so every
			// element still sees exactly one subtraction.
			clear(tmp)
			for r := 0; r < mi; r++ {
				copy(tmp[r*nr:r*nr+nj], C[(i0+r)*ldc+j:(i0+r)*ldc+j+nj])
			}
			t.fn(ap, bq, p, tmp, nr)
			for r := 0; r < mi; r++ {
				copy(C[(i0+r)*ldc+j:(i0+r)*ldc+j+nj], tmp[r*nr:r*nr+nj])
			}
		}
	}
}

// gemmColumns is how many columns of B one packing holds in SubABt64 and
// SubAB64: enough for the tiles to reuse it, few enough to stay small.
const gemmColumns = 512

// SubABt64 lowers C [m, nc] by A Bᵀ (A [m, p], B [nc, p]; row strides
// ldc, lda, ldb) on all threads.
func SubABt64(C []float64, ldc int, A []float64, lda int, B []float64, ldb int, m, nc, p int) {
	subPar(C, ldc, A, lda, m, nc, p, func(j0, w int) *Panel64 { return PackBt64(B[j0*ldb:], ldb, w, p) })
}

// SubAB64 lowers C [m, nc] by A B with B given as [p, nc] (row stride ldb).
func SubAB64(C []float64, ldc int, A []float64, lda int, B []float64, ldb int, m, nc, p int) {
	subPar(C, ldc, A, lda, m, nc, p, func(j0, w int) *Panel64 { return PackB64(B[j0:], ldb, w, p) })
}

func subPar(C []float64, ldc int, A []float64, lda int, m, nc, p int, pack func(j0, w int) *Panel64) {
	if m == 0 || nc == 0 || p == 0 {
		return
	}
	for j0 := 0; j0 < nc; j0 += gemmColumns {
		w := min(gemmColumns, nc-j0)
		pb := pack(j0, w)
		Parallel((m+15)/16, 1, func(lo, hi int) {
			r0, r1 := lo*16, min(hi*16, m)
			pb.Sub(C[r0*ldc+j0:], ldc, A[r0*lda:], lda, r1-r0, w)
		})
	}
}

// subABtGo is the definition in Go, a 4×4 block at a time so that every
// value loaded serves four products.
func subABtGo(C []float64, ldc int, A []float64, lda int, B []float64, ldb int, m, nc, p int) {
	if p == 0 {
		return
	}
	i := 0
	for ; i+4 <= m; i += 4 {
		a0 := A[i*lda : i*lda+p]
		a1 := A[(i+1)*lda : (i+1)*lda+p][:len(a0)]
		a2 := A[(i+2)*lda : (i+2)*lda+p][:len(a0)]
		a3 := A[(i+3)*lda : (i+3)*lda+p][:len(a0)]
		j := 0
		for ; j+4 <= nc; j += 4 {
			b0 := B[j*ldb : j*ldb+p][:len(a0)]
			b1 := B[(j+1)*ldb : (j+1)*ldb+p][:len(a0)]
			b2 := B[(j+2)*ldb : (j+2)*ldb+p][:len(a0)]
			b3 := B[(j+3)*ldb : (j+3)*ldb+p][:len(a0)]
			var s [16]float64
			for k := range a0 {
				x0, x1, x2, x3 := a0[k], a1[k], a2[k], a3[k]
				y0, y1, y2, y3 := b0[k], b1[k], b2[k], b3[k]
				// float64(): a rounded product, never fused into the add.
				s[0] += float64(x0 * y0)
				s[1] += float64(x0 * y1)
				s[2] += float64(x0 * y2)
				s[3] += float64(x0 * y3)
				s[4] += float64(x1 * y0)
				s[5] += float64(x1 * y1)
				s[6] += float64(x1 * y2)
				s[7] += float64(x1 * y3)
				s[8] += float64(x2 * y0)
				s[9] += float64(x2 * y1)
				s[10] += float64(x2 * y2)
				s[11] += float64(x2 * y3)
				s[12] += float64(x3 * y0)
				s[13] += float64(x3 * y1)
				s[14] += float64(x3 * y2)
				s[15] += float64(x3 * y3)
			}
			for r := 0; r < 4; r++ {
				c := C[(i+r)*ldc+j : (i+r)*ldc+j+4]
				c[0] -= s[4*r]
				c[1] -= s[4*r+1]
				c[2] -= s[4*r+2]
				c[3] -= s[4*r+3]
			}
		}
		for ; j < nc; j++ {
			bj := B[j*ldb : j*ldb+p]
			C[i*ldc+j] -= Dot64(a0, bj)
			C[(i+1)*ldc+j] -= Dot64(a1, bj)
			C[(i+2)*ldc+j] -= Dot64(a2, bj)
			C[(i+3)*ldc+j] -= Dot64(a3, bj)
		}
	}
	for ; i < m; i++ {
		ai := A[i*lda : i*lda+p]
		for j := 0; j < nc; j++ {
			C[i*ldc+j] -= Dot64(ai, B[j*ldb:j*ldb+p])
		}
	}
}

// Dot64 is Σ_k a[k]·b[k] in order, the sum of the definition above
// (products rounded, then added).
func Dot64(a, b []float64) float64 {
	b = b[:len(a)]
	s := 0.0
	for i, v := range a {
		s += float64(v * b[i])
	}
	return s
}
