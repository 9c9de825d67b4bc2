package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/cusprun/cusprun/core/ops"
)

// reselect chooses which FFN neurons of a layer go when the kept ones will
// be refitted: the method's ranking names a pool of candidates (the pool
// times the count to remove lowest ranked: Plan.PoolFFN), and among them
// neurons are removed one at a time, each time the one whose removal the
// refit of the others repairs best. That is Optimal Brain Surgeon on the
// layer's output: with P the inverse of the (ridge-regularised) Gram matrix
// of the inputs still there, removing input k and refitting the rest
// raises the output error by ||W[:,k]||² / P_kk; after each removal the
// weights take the refit (W -= W[:,k] P_k: / P_kk) and P becomes the
// inverse of the smaller Gram matrix (P -= P_:k P_k: / P_kk).
//
// Only the candidates' entries of P and columns of W are ever read, and
// both updates keep to them, so neither the whole inverse nor the whole W
// is formed. With N the inputs outside the pool (always kept) and C the
// candidates, P_CC is the inverse of the Schur complement
//
//	S = (G_CC + λI) − G_CN (G_NN + λI)⁻¹ G_NC,
//
// which one Cholesky factorisation of G_NN + λI and one forward solve give
// (S = G_CC + λI − XᵀX, X = L⁻¹ G_NC): about n³/3 + n²c + nc² multiply-adds
// for n outside and c inside the pool, against F³ for the whole inverse,
// plus per removal c² + 2Hc for the updates.
//
// G is the layer's [F, F] Gram matrix (natural order, both triangles), w
// down_proj ([H, F]), keep the method's kept set (its size is kept), cand
// the candidates (every removed neuron among them); λ is ridge times the
// mean of G's diagonal. It returns the new kept set, ascending.
func reselect(w []float32, H, F int, G []float64, keep, cand []int, ridge float64) ([]int, error) {
	remove := F - len(keep)
	if remove == 0 {
		return keep, nil
	}
	if err := checkPool(cand, keep, F); err != nil {
		return nil, err
	}
	if len(cand) < remove {
		return nil, fmt.Errorf("reselection: %d candidates for %d neurons to remove", len(cand), remove)
	}
	in := make([]bool, F)
	for _, k := range cand {
		in[k] = true
	}
	var N []int // outside the pool: kept whatever the refit says
	for k := 0; k < F; k++ {
		if !in[k] {
			N = append(N, k)
		}
	}
	C := cand
	n, c := len(N), len(C)
	diag := 0.0
	for i := 0; i < F; i++ {
		diag += G[i*F+i]
	}
	lambda := ridge * diag / float64(F)

	// S = G_CC + λI − XᵀX with X = L⁻¹ G_NC (rows of Xs: the columns of X).
	S := make([]float64, c*c)
	for a, i := range C {
		for b, j := range C {
			S[a*c+b] = G[i*F+j]
		}
		S[a*c+a] += lambda
	}
	if n > 0 {
		A := make([]float64, n*n)
		for a, i := range N {
			for b, j := range N[:a+1] {
				A[a*n+b] = G[i*F+j]
			}
			A[a*n+a] += lambda
		}
		if err := cholesky(A, n, n); err != nil {
			return nil, err
		}
		Xs := make([]float64, c*n)
		for a, i := range C {
			for b, j := range N {
				Xs[a*n+b] = G[i*F+j]
			}
		}
		cholForward(A, n, n, Xs, c)
		A = nil
		ops.SubABt64(S, c, Xs, n, Xs, n, c, c, n)
	}
	// P = S⁻¹ (P_CC of the whole inverse).
	if err := cholesky(S, c, c); err != nil {
		return nil, err
	}
	P := make([]float64, c*c)
	for a := 0; a < c; a++ {
		P[a*c+a] = 1
	}
	cholSolve(S, c, c, P, c)
	S = nil
	W := make([]float64, H*c) // the candidates' columns of down_proj
	for i := 0; i < H; i++ {
		for a, j := range C {
			W[i*c+a] = float64(w[i*F+j])
		}
	}
	gone := make([]bool, c)
	for step := 0; step < remove; step++ {
		best, bestE := -1, math.Inf(1)
		for a := 0; a < c; a++ {
			if gone[a] {
				continue
			}
			e := 0.0
			for i := 0; i < H; i++ {
				e += W[i*c+a] * W[i*c+a]
			}
			if e /= P[a*c+a]; e < bestE {
				best, bestE = a, e
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("reselection: no candidate left to remove (step %d of %d)", step+1, remove)
		}
		k := best
		pk := append([]float64(nil), P[k*c:(k+1)*c]...)
		pkk := pk[k]
		ops.Parallel(H, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				f := W[i*c+k] / pkk
				row := W[i*c : (i+1)*c]
				for j, v := range pk {
					row[j] -= f * v
				}
			}
		})
		ops.Parallel(c, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				f := pk[i] / pkk
				row := P[i*c : (i+1)*c]
				for j, v := range pk {
					row[j] -= f * v
				}
			}
		})
		gone[k] = true
		for i := 0; i < H; i++ {
			W[i*c+k] = 0
		}
	}
	out := make([]int, 0, len(keep))
	out = append(out, N...)
	for a, k := range C {
		if !gone[a] {
			out = append(out, k)
		}
	}
	sort.Ints(out)
	return out, nil
}

// DefaultPool is the reselection's pool as a multiple of the neurons a
// layer loses (QUALITY.md, "Ranking": 1.25 keeps most of what larger pools
// gain, and the ranking still names most of what goes).
const DefaultPool = 1.25

// SetPool names, in every layer that loses FFN neurons, the candidates the
// refit may choose the removed among: the removed neurons and then the
// kept ones the scores rank lowest, pool times the count removed in all
// (at most the layer's width). A pool of 1 or less clears it: the removed
// neurons are final.
func (p *Plan) SetPool(sc UnitScores, pool float64) {
	p.PoolFFN = nil
	if pool <= 1 {
		return
	}
	p.PoolFFN = make([][]int, len(p.KeepFFN))
	for l, keep := range p.KeepFFN {
		F := p.From.FFNAt(l)
		remove := F - len(keep)
		if remove == 0 {
			continue
		}
		kept := make([]bool, F)
		for _, k := range keep {
			kept[k] = true
		}
		var cand []int
		us := make([]unit, 0, len(keep))
		for k := 0; k < F; k++ {
			if kept[k] {
				us = append(us, unit{idx: k, score: sc.FFN[l][k], tie: sc.FFNTie[l][k]})
			} else {
				cand = append(cand, k)
			}
		}
		sort.Slice(us, func(i, j int) bool { return less(us[i], us[j]) })
		more := min(F, int(math.Ceil(pool*float64(remove)))) - remove
		for _, u := range us[:min(more, len(us))] {
			cand = append(cand, u.idx)
		}
		sort.Ints(cand)
		p.PoolFFN[l] = cand
	}
}

// checkPool says a layer's pool is one reselect can take: ascending
// neuron indices below F that include every neuron keep leaves out.
func checkPool(pool, keep []int, F int) error {
	kept := make([]bool, F)
	for _, k := range keep {
		kept[k] = true
	}
	in := make([]bool, F)
	for i, k := range pool {
		if k < 0 || k >= F || (i > 0 && k <= pool[i-1]) {
			return fmt.Errorf("the refit's pool is not ascending neuron indices below %d", F)
		}
		in[k] = true
	}
	for k := 0; k < F; k++ {
		if !kept[k] && !in[k] {
			return fmt.Errorf("the refit's pool leaves out neuron %d, which the plan removes", k)
		}
	}
	return nil
}
