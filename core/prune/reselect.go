package prune

import (
	"math"
	"sort"

	"github.com/cusprun/cusprun/core/ops"
)

// reselect chooses which FFN neurons of a layer go when the kept ones will
// be refitted (experimental, CompensateOptions.Pool): the method's ranking
// names a pool of candidates, the pool times the count to remove lowest
// ranked, and among them neurons are removed one at a time, each time the
// one whose removal the refit of the others repairs best. That is Optimal
// Brain Surgeon on the layer's output: with P the inverse of the
// (ridge-regularised) Gram matrix of the kept inputs, removing input k and
// refitting the rest raises the output error by ||W[:,k]||² / P_kk; after
// each removal the weights take the refit (W -= W[:,k] P_k: / P_kk) and P
// the inverse of the smaller Gram matrix (P -= P_:k P_k: / P_kk).
//
// G is the layer's [F, F] Gram matrix, w down_proj ([H, F]), keep the
// method's kept set (its size is kept), score/tie the method's ranking.
func reselect(w []float32, H, F int, G []float64, keep []int, score, tie []float64, pool, ridge float64) ([]int, error) {
	remove := F - len(keep)
	if remove == 0 {
		return keep, nil
	}
	us := make([]unit, F)
	for i := range us {
		us[i] = unit{idx: i, score: score[i], tie: tie[i]}
	}
	sort.Slice(us, func(i, j int) bool { return less(us[i], us[j]) })
	cand := make([]bool, F)
	for _, u := range us[:min(F, int(math.Ceil(pool*float64(remove))))] {
		cand[u.idx] = true
	}
	// P = (G + λI)⁻¹ by Cholesky and F right-hand sides.
	A := append([]float64(nil), G...)
	diag := 0.0
	for i := 0; i < F; i++ {
		diag += G[i*F+i]
	}
	lambda := ridge * diag / float64(F)
	for i := 0; i < F; i++ {
		A[i*F+i] += lambda
	}
	if err := cholesky(A, F, F); err != nil {
		return nil, err
	}
	P := make([]float64, F*F)
	for i := 0; i < F; i++ {
		P[i*F+i] = 1
	}
	cholSolve(A, F, F, P, F)
	W := make([]float64, H*F)
	for i, v := range w {
		W[i] = float64(v)
	}
	gone := make([]bool, F)
	for step := 0; step < remove; step++ {
		best, bestE := -1, math.Inf(1)
		for k := 0; k < F; k++ {
			if !cand[k] || gone[k] {
				continue
			}
			e := 0.0
			for i := 0; i < H; i++ {
				e += W[i*F+k] * W[i*F+k]
			}
			if e /= P[k*F+k]; e < bestE {
				best, bestE = k, e
			}
		}
		k := best
		pk := append([]float64(nil), P[k*F:(k+1)*F]...)
		pkk := pk[k]
		ops.Parallel(H, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				f := W[i*F+k] / pkk
				row := W[i*F : (i+1)*F]
				for j, v := range pk {
					row[j] -= f * v
				}
			}
		})
		ops.Parallel(F, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				f := pk[i] / pkk
				row := P[i*F : (i+1)*F]
				for j, v := range pk {
					row[j] -= f * v
				}
			}
		})
		gone[k] = true
		for i := 0; i < H; i++ {
			W[i*F+k] = 0
		}
	}
	out := make([]int, 0, len(keep))
	for k := 0; k < F; k++ {
		if !gone[k] {
			out = append(out, k)
		}
	}
	return out, nil
}
