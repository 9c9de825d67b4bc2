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
// It returns W' as [rows, len(keep)] float64. G is read in the natural
// order; refitOrdered is the same on the rows the refit reads, in the order
// kept then removed, as Compensate accumulates them.
func refitCols(w []float32, rows, cols int, G []float64, keep []int, ridge float64) ([]float64, error) {
	order := append(append([]int(nil), keep...), removed(keep, cols)...)
	k := len(keep)
	Gp := make([]float64, k*cols)
	for a := 0; a < k; a++ {
		row := G[order[a]*cols:]
		for b, j := range order {
			Gp[a*cols+b] = row[j]
		}
	}
	return refitOrdered(w, rows, cols, Gp, cols, keep, ridge)
}

// removed lists the columns of [0, cols) not in keep, in order.
func removed(keep []int, cols int) []int {
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
	return rem
}

// refitOrdered is refitCols with G given as its first len(keep) rows in
// the order keep then the removed columns (as removed lists them): G[a][b]
// at G[a*ld+b], on and above the diagonal (a ≤ b; what is below is
// ignored). It factors G_KK in place, so G is overwritten; memory beyond G
// is the right-hand sides, not another Gram-sized matrix.
func refitOrdered(w []float32, rows, cols int, G []float64, ld int, keep []int, ridge float64) ([]float64, error) {
	k := len(keep)
	rem := removed(keep, cols)
	r := len(rem)
	out := make([]float64, rows*k)
	for i := 0; i < rows; i++ {
		for a, j := range keep {
			out[i*k+a] = float64(w[i*cols+j])
		}
	}
	if r == 0 || k == 0 {
		return out, nil
	}
	// A = G_KK + λI, in place: the factorisation reads the lower triangle.
	diag := 0.0
	for a := 0; a < k; a++ {
		for b := 0; b < a; b++ {
			G[a*ld+b] = G[b*ld+a]
		}
		diag += G[a*ld+a]
	}
	lambda := ridge * diag / float64(k)
	if !(lambda > 0) {
		// All kept inputs are zero on the calibration text: nothing to fit.
		return out, nil
	}
	for a := 0; a < k; a++ {
		G[a*ld+a] += lambda
	}
	if err := cholesky(G, k, ld); err != nil {
		return nil, err
	}
	refitSolve(out, w, rows, cols, G, ld, k, rem, G[k:], ld) // row a of G_KR at G[k+a*ld:]
	return out, nil
}

// refitSolve adds to out ([rows, k], the kept weights W_K in the factor's
// order) the refit's correction (G_KK + λI)⁻¹ G_KR W_Rᵀ, with L the factor
// of G_KK + λI (row stride ld), rem the removed columns and GKR's row a
// (at GKR[a*ldg:], len(rem) values) kept input a's Gram entries with them.
func refitSolve(out []float64, w []float32, rows, cols int, L []float64, ld, k int, rem []int, GKR []float64, ldg int) {
	r := len(rem)
	WR := make([]float64, rows*r)
	for i := 0; i < rows; i++ {
		for b, j := range rem {
			WR[i*r+b] = -float64(w[i*cols+j])
		}
	}
	if r < rows {
		// Fewer removed inputs than outputs: solve for (G_KK+λI)⁻¹ G_KR,
		// one right-hand side per removed input, then multiply by W_R.
		M := make([]float64, r*k) // [R, K]: row b is column b of G_KR
		for a := 0; a < k; a++ {
			for b := 0; b < r; b++ {
				M[b*k+a] = GKR[a*ldg+b]
			}
		}
		cholSolve(L, k, ld, M, r)
		// out[i, a] += Σ_b W_R[i, b] M[b, a], as out -= (−W_R) M.
		ops.SubAB64(out, k, WR, r, M, k, rows, k, r)
		return
	}
	// B = W_R G_RK, [rows, k]: one right-hand side per output row.
	B := make([]float64, rows*k)
	ops.SubABt64(B, k, WR, r, GKR, ldg, rows, k, r)
	cholSolve(L, k, ld, B, rows)
	for i := range out {
		out[i] += B[i]
	}
}

// cholBlock is the width of the panels of the blocked factorisation and
// solves: the bulk of the work becomes products of panels (ops.SubABt64), which
// reuse what they load instead of streaming the whole matrix per column.
const cholBlock = 96

// cholesky factors the symmetric positive definite A ([n, n], row stride
// lda) in place into its lower triangle L (A = L Lᵀ; what is above the
// diagonal within a block of it is overwritten with scratch, and nothing
// right of column n is touched). Right-looking and blocked: factor a
// diagonal block, solve the panel below it, subtract the panel's product
// from the trailing matrix.
func cholesky(A []float64, n, lda int) error {
	for k0 := 0; k0 < n; k0 += cholBlock {
		k1 := min(k0+cholBlock, n)
		// Diagonal block, unblocked (its columns before k0 are already
		// subtracted by the trailing updates).
		for j := k0; j < k1; j++ {
			rj := A[j*lda+k0 : j*lda+j]
			s := A[j*lda+j] - dot64(rj, rj)
			if !(s > 0) {
				return fmt.Errorf("compensation: the Gram matrix is not positive definite at column %d of %d (pivot %g)", j, n, s)
			}
			d := math.Sqrt(s)
			A[j*lda+j] = d
			for i := j + 1; i < k1; i++ {
				A[i*lda+j] = (A[i*lda+j] - dot64(A[i*lda+k0:i*lda+j], rj)) / d
			}
		}
		if k1 == n {
			break
		}
		// Panel: rows below the block, L21 = A21 L11⁻ᵀ, as one product of
		// panels with the block's inverse (w³/6 to form) rather than a
		// substitution per row, which short dot products make several
		// times slower: the rows are copied out, the panel zeroed and
		// lowered by A21 (−L11⁻¹)ᵀ.
		m := n - k1
		w := k1 - k0
		inv := lowerInverse(A[k0*lda+k0:], lda, w)
		for i := range inv {
			inv[i] = -inv[i]
		}
		a21 := make([]float64, m*w)
		for i := 0; i < m; i++ {
			row := A[(k1+i)*lda+k0 : (k1+i)*lda+k1]
			copy(a21[i*w:(i+1)*w], row)
			clear(row)
		}
		ops.SubABt64(A[k1*lda+k0:], lda, a21, w, inv, w, m, w, w)
		// Trailing update A22 -= L21 L21ᵀ (lower triangle, by row blocks;
		// L21 packed once for all of them).
		pb := ops.PackBt64(A[k1*lda+k0:], lda, m, k1-k0)
		ops.Parallel((m+cholBlock-1)/cholBlock, 1, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				i0 := k1 + b*cholBlock
				i1 := min(i0+cholBlock, n)
				pb.Sub(A[i0*lda+k1:], lda, A[i0*lda+k0:], lda, i1-i0, i1-k1)
			}
		})
	}
	return nil
}

// lowerInverse returns the inverse of the lower triangle of L ([n, n], row
// stride ld) as [n, n], zero above the diagonal: column by column,
// forward substitution on the unit vectors.
func lowerInverse(L []float64, ld, n int) []float64 {
	inv := make([]float64, n*n)
	for j := 0; j < n; j++ {
		inv[j*n+j] = 1 / L[j*ld+j]
		for i := j + 1; i < n; i++ {
			s := 0.0
			for t := j; t < i; t++ {
				s += L[i*ld+t] * inv[t*n+j]
			}
			inv[i*n+j] = -s / L[i*ld+i]
		}
	}
	return inv
}

// cholSolve overwrites each of the m rows of B ([m, n]) with the solution x
// of L Lᵀ x = b, L the factor cholesky left in A (row stride lda):
// cholForward then cholBackward.
func cholSolve(A []float64, n, lda int, B []float64, m int) {
	cholForward(A, n, lda, B, m)
	cholBackward(A, n, lda, B, m)
}

// cholRows runs body over the m rows of a right-hand side in blocks of 16,
// in parallel.
func cholRows(m int, body func(r0, r1 int)) {
	ops.Parallel((m+15)/16, 1, func(lo, hi int) { body(lo*16, min(hi*16, m)) })
}

// cholForward overwrites each of the m rows of B ([m, n]) with y = L⁻¹ b, a
// block of columns at a time: the update from the solved columns is one
// product of panels (ops.SubABt64's panels for L).
func cholForward(A []float64, n, lda int, B []float64, m int) {
	for k0 := 0; k0 < n; k0 += cholBlock {
		k1 := min(k0+cholBlock, n)
		pb := ops.PackBt64(A[k0*lda:], lda, k1-k0, k0)
		cholRows(m, func(r0, r1 int) {
			pb.Sub(B[r0*n+k0:], n, B[r0*n:], n, r1-r0, k1-k0)
			for r := r0; r < r1; r++ {
				x := B[r*n : (r+1)*n]
				for i := k0; i < k1; i++ {
					x[i] = (x[i] - dot64(A[i*lda+k0:i*lda+i], x[k0:i])) / A[i*lda+i]
				}
			}
		})
	}
}

// cholBackward overwrites each of the m rows of B ([m, n]) with x = L⁻ᵀ y;
// ops.PackB64's panels read L's rows as Lᵀ's columns, so no transposed copy
// of L is made.
func cholBackward(A []float64, n, lda int, B []float64, m int) {
	// The diagonal block of Lᵀ, as rows, for the backward substitutions.
	U := make([]float64, cholBlock*cholBlock)
	for k1 := n; k1 > 0; k1 -= cholBlock {
		k0 := max(k1-cholBlock, 0)
		w := k1 - k0
		for i := 0; i < w; i++ {
			for j := i; j < w; j++ {
				U[i*w+j] = A[(k0+j)*lda+k0+i]
			}
		}
		var pb *ops.Panel64
		if k1 < n {
			pb = ops.PackB64(A[k1*lda+k0:], lda, w, n-k1)
		}
		cholRows(m, func(r0, r1 int) {
			if pb != nil {
				pb.Sub(B[r0*n+k0:], n, B[r0*n+k1:], n, r1-r0, w)
			}
			for r := r0; r < r1; r++ {
				x := B[r*n+k0 : r*n+k1]
				for i := w - 1; i >= 0; i-- {
					x[i] = (x[i] - dot64(U[i*w+i+1:i*w+w], x[i+1:w])) / U[i*w+i]
				}
			}
		})
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
