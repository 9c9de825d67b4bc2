package prune

import (
	"fmt"
	"math"

	"github.com/cusprun/cusprun/core/ops"
)

// refitCols solves the least-squares refit of a weight w ([rows, cols],
// Hugging Face layout: y = x wᵀ, so column j reads input j) when only the
// input columns keep survive: with G the Gram matrix of the inputs
// ([cols, cols]), K the kept and R the removed columns, the kept weights
// that best reproduce the full output on the calibration inputs, with a
// ridge that pulls them toward their original values W_K,
//
//	W' = argmin ||X Wᵀ − X_K W'ᵀ||² + λ||W' − W_K||²
//	   ⇒ (G_KK + λI) W'ᵀ = G_K: Wᵀ + λ W_Kᵀ
//	   ⇒ W'ᵀ = W_Kᵀ + (G_KK + λI)⁻¹ G_KR W_Rᵀ,
//
// solved in float64 by one Cholesky factorisation. Only the correction is
// computed, which is small, and it needs G_KR rather than the whole G_K:.
// The ridge λ is ridge times the mean of G_KK's diagonal: it keeps the
// system positive definite when kept inputs are collinear or the
// calibration text has fewer tokens than kept columns, and where the text
// says little about a direction the weights stay as they were.
//
// It returns W' as [rows, len(keep)] float64.
func refitCols(w []float32, rows, cols int, G []float64, keep []int, ridge float64) ([]float64, error) {
	k := len(keep)
	kept := make([]bool, cols)
	for _, j := range keep {
		kept[j] = true
	}
	var rem []int
	for j := 0; j < cols; j++ {
		if !kept[j] {
			rem = append(rem, j)
		}
	}
	out := make([]float64, rows*k)
	for i := 0; i < rows; i++ {
		for a, j := range keep {
			out[i*k+a] = float64(w[i*cols+j])
		}
	}
	if len(rem) == 0 || k == 0 {
		return out, nil
	}
	// A = G_KK + λI.
	A := make([]float64, k*k)
	diag := 0.0
	for a, i := range keep {
		row := G[i*cols:]
		for b, j := range keep {
			A[a*k+b] = row[j]
		}
		diag += row[i]
	}
	lambda := ridge * diag / float64(k)
	if !(lambda > 0) {
		// All kept inputs are zero on the calibration text: nothing to fit.
		return out, nil
	}
	for a := 0; a < k; a++ {
		A[a*k+a] += lambda
	}
	if err := cholesky(A, k); err != nil {
		return nil, err
	}
	GKR := make([]float64, k*len(rem))
	for a, i := range keep {
		for b, j := range rem {
			GKR[a*len(rem)+b] = G[i*cols+j]
		}
	}
	WR := make([]float64, rows*len(rem))
	for i := 0; i < rows; i++ {
		for b, j := range rem {
			WR[i*len(rem)+b] = float64(w[i*cols+j])
		}
	}
	if len(rem) < rows {
		// Fewer removed inputs than outputs: solve for (G_KK+λI)⁻¹ G_KR,
		// one right-hand side per removed input, then multiply by W_R.
		M := make([]float64, len(rem)*k) // [R, K]: row b is column b of G_KR
		for a := 0; a < k; a++ {
			for b := range rem {
				M[b*k+a] = GKR[a*len(rem)+b]
			}
		}
		cholSolve(A, k, M, len(rem))
		// out[i, a] += sum_b W_R[i, b] M[b, a]; as C -= A Bᵀ with negated W_R.
		MT := make([]float64, k*len(rem))
		for b := range rem {
			for a := 0; a < k; a++ {
				MT[a*len(rem)+b] = M[b*k+a]
			}
		}
		for i := range WR {
			WR[i] = -WR[i]
		}
		ops.Parallel((rows+15)/16, 1, func(lo, hi int) {
			r0, r1 := lo*16, min(hi*16, rows)
			subABt(out[r0*k:], k, WR[r0*len(rem):], len(rem), MT, len(rem), r1-r0, k, len(rem))
		})
		return out, nil
	}
	// B = W_R G_RK, [rows, k]: one right-hand side per output row.
	B := make([]float64, rows*k)
	for i := range WR {
		WR[i] = -WR[i]
	}
	ops.Parallel((rows+15)/16, 1, func(lo, hi int) {
		r0, r1 := lo*16, min(hi*16, rows)
		subABt(B[r0*k:], k, WR[r0*len(rem):], len(rem), GKR, len(rem), r1-r0, k, len(rem))
	})
	cholSolve(A, k, B, rows)
	for i := range out {
		out[i] += B[i]
	}
	return out, nil
}

// cholBlock is the width of the panels of the blocked factorisation and
// solves: the bulk of the work becomes products of panels (subABt), which
// reuse what they load instead of streaming the whole matrix per column.
const cholBlock = 96

// cholesky factors the symmetric positive definite A ([n, n]) in place
// into its lower triangle L (A = L Lᵀ; the upper triangle is overwritten
// with scratch). Right-looking and blocked: factor a diagonal block, solve
// the panel below it, subtract the panel's product from the trailing
// matrix.
func cholesky(A []float64, n int) error {
	for k0 := 0; k0 < n; k0 += cholBlock {
		k1 := min(k0+cholBlock, n)
		// Diagonal block, unblocked (its columns before k0 are already
		// subtracted by the trailing updates).
		for j := k0; j < k1; j++ {
			rj := A[j*n+k0 : j*n+j]
			s := A[j*n+j] - dot64(rj, rj)
			if !(s > 0) {
				return fmt.Errorf("compensation: the Gram matrix is not positive definite at column %d of %d (pivot %g)", j, n, s)
			}
			d := math.Sqrt(s)
			A[j*n+j] = d
			for i := j + 1; i < k1; i++ {
				A[i*n+j] = (A[i*n+j] - dot64(A[i*n+k0:i*n+j], rj)) / d
			}
		}
		if k1 == n {
			break
		}
		// Panel: rows below the block, L21 = A21 L11⁻ᵀ, row by row.
		ops.Parallel(n-k1, 16, func(lo, hi int) {
			for i := k1 + lo; i < k1+hi; i++ {
				for j := k0; j < k1; j++ {
					A[i*n+j] = (A[i*n+j] - dot64(A[i*n+k0:i*n+j], A[j*n+k0:j*n+j])) / A[j*n+j]
				}
			}
		})
		// Trailing update A22 -= L21 L21ᵀ (lower triangle, by row blocks).
		m := n - k1
		ops.Parallel((m+cholBlock-1)/cholBlock, 1, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				i0 := k1 + b*cholBlock
				i1 := min(i0+cholBlock, n)
				subABt(A[i0*n+k1:], n, A[i0*n+k0:], n, A[k1*n+k0:], n, i1-i0, i1-k1, k1-k0)
			}
		})
	}
	return nil
}

// cholSolve overwrites each of the m rows of B ([m, n]) with the solution x
// of L Lᵀ x = b, L the factor cholesky left in A, a block of columns at a
// time: the update from the solved columns is one product of panels.
func cholSolve(A []float64, n int, B []float64, m int) {
	// U = Lᵀ, so the backward sweep reads rows too.
	U := make([]float64, n*n)
	ops.Parallel(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for k := i; k < n; k++ {
				U[i*n+k] = A[k*n+i]
			}
		}
	})
	rows := func(body func(r0, r1 int)) {
		ops.Parallel((m+15)/16, 1, func(lo, hi int) { body(lo*16, min(hi*16, m)) })
	}
	for k0 := 0; k0 < n; k0 += cholBlock { // L y = b
		k1 := min(k0+cholBlock, n)
		rows(func(r0, r1 int) {
			subABt(B[r0*n+k0:], n, B[r0*n:], n, A[k0*n:], n, r1-r0, k1-k0, k0)
			for r := r0; r < r1; r++ {
				x := B[r*n : (r+1)*n]
				for i := k0; i < k1; i++ {
					x[i] = (x[i] - dot64(A[i*n+k0:i*n+i], x[k0:i])) / A[i*n+i]
				}
			}
		})
	}
	for k1 := n; k1 > 0; k1 -= cholBlock { // Lᵀ x = y
		k0 := max(k1-cholBlock, 0)
		rows(func(r0, r1 int) {
			subABt(B[r0*n+k0:], n, B[r0*n+k1:], n, U[k0*n+k1:], n, r1-r0, k1-k0, n-k1)
			for r := r0; r < r1; r++ {
				x := B[r*n : (r+1)*n]
				for i := k1 - 1; i >= k0; i-- {
					x[i] = (x[i] - dot64(U[i*n+i+1:i*n+k1], x[i+1:k1])) / U[i*n+i]
				}
			}
		})
	}
}

// subABt computes C -= A Bᵀ for C [m, nc] (row stride ldc), A [m, p] and
// B [nc, p] (row strides lda, ldb), a 4×4 tile at a time so every value
// loaded serves four products.
func subABt(C []float64, ldc int, A []float64, lda int, B []float64, ldb int, m, nc, p int) {
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
				s[0] += x0 * y0
				s[1] += x0 * y1
				s[2] += x0 * y2
				s[3] += x0 * y3
				s[4] += x1 * y0
				s[5] += x1 * y1
				s[6] += x1 * y2
				s[7] += x1 * y3
				s[8] += x2 * y0
				s[9] += x2 * y1
				s[10] += x2 * y2
				s[11] += x2 * y3
				s[12] += x3 * y0
				s[13] += x3 * y1
				s[14] += x3 * y2
				s[15] += x3 * y3
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
			C[i*ldc+j] -= dot64(a0, bj)
			C[(i+1)*ldc+j] -= dot64(a1, bj)
			C[(i+2)*ldc+j] -= dot64(a2, bj)
			C[(i+3)*ldc+j] -= dot64(a3, bj)
		}
	}
	for ; i < m; i++ {
		ai := A[i*lda : i*lda+p]
		for j := 0; j < nc; j++ {
			C[i*ldc+j] -= dot64(ai, B[j*ldb:j*ldb+p])
		}
	}
}

// dot64 is a float64 dot product in four independent sums.
func dot64(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
