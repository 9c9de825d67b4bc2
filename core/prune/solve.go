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
// that best reproduce the full output on the calibration inputs are
//
//	W'_K = argmin ||X Wᵀ − X_K W'ᵀ||²  ⇒  (G_KK + λI) W'ᵀ = G_K: Wᵀ
//	    W'ᵀ = W_Kᵀ + (G_KK + λI)⁻¹ (G_KR W_Rᵀ − λ W_Kᵀ)
//
// solved in float64 by one Cholesky factorisation. The second form
// computes only the correction, which is small, and needs G_KR rather than
// the whole G_K:. The ridge λ is ridge times the mean of G_KK's diagonal,
// which keeps the system positive definite when kept inputs are collinear
// or the calibration set has fewer tokens than kept columns.
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
	// B = W_R G_RK − λ W_K, [rows, k]: one right-hand side per output row.
	GKR := make([]float64, k*len(rem))
	for a, i := range keep {
		for b, j := range rem {
			GKR[a*len(rem)+b] = G[i*cols+j]
		}
	}
	B := make([]float64, rows*k)
	ops.Parallel(rows, 4, func(lo, hi int) {
		wr := make([]float64, len(rem))
		for i := lo; i < hi; i++ {
			for b, j := range rem {
				wr[b] = float64(w[i*cols+j])
			}
			dst := B[i*k : (i+1)*k]
			for a := range dst {
				dst[a] = dot64(GKR[a*len(rem):(a+1)*len(rem)], wr) - lambda*out[i*k+a]
			}
		}
	})
	cholSolve(A, k, B, rows)
	for i := range out {
		out[i] += B[i]
	}
	return out, nil
}

// cholesky factors the symmetric positive definite A ([n, n]) in place
// into its lower triangle L (A = L Lᵀ), column by column; the rows below
// each diagonal are independent and split over the cores.
func cholesky(A []float64, n int) error {
	for j := 0; j < n; j++ {
		rj := A[j*n : j*n+j]
		s := A[j*n+j] - dot64(rj, rj)
		if !(s > 0) {
			return fmt.Errorf("compensation: the Gram matrix is not positive definite at column %d of %d (pivot %g)", j, n, s)
		}
		d := math.Sqrt(s)
		A[j*n+j] = d
		ops.Parallel(n-j-1, 64, func(lo, hi int) {
			for i := j + 1 + lo; i < j+1+hi; i++ {
				A[i*n+j] = (A[i*n+j] - dot64(A[i*n:i*n+j], rj)) / d
			}
		})
	}
	return nil
}

// cholSolve overwrites each of the m rows of B ([m, n]) with the solution x
// of L Lᵀ x = b, L the factor cholesky left in A. Right-hand sides are
// independent and split over the cores.
func cholSolve(A []float64, n int, B []float64, m int) {
	ops.Parallel(m, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			x := B[r*n : (r+1)*n]
			for i := 0; i < n; i++ { // L y = b
				x[i] = (x[i] - dot64(A[i*n:i*n+i], x[:i])) / A[i*n+i]
			}
			for i := n - 1; i >= 0; i-- { // Lᵀ x = y
				x[i] /= A[i*n+i]
				xi := x[i]
				row := A[i*n : i*n+i]
				for k, v := range row {
					x[k] -= v * xi
				}
			}
		}
	})
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
