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
// Only the candidates' entries of P and columns of W (through their Gram
// matrix Q = W_Cᵀ W_C) are ever read, and both updates keep to them, so
// neither the whole inverse nor the refitted W is formed. With N the inputs outside the pool (always kept) and C the
// candidates, P_CC is the inverse of the Schur complement
//
//	S = (G_CC + λI) − G_CN (G_NN + λI)⁻¹ G_NC,
//
// and the Cholesky factorisation of G + λI with the pool's rows last
// leaves S's factor in its last block (F³/6 multiply-adds, against F³ for
// the whole inverse); P_CC then costs c³ for c candidates, and the greedy
// (obsGreedy) about 3m² per removal while m candidates are left, in
// products of panels (ReselectMACs counts it all).
//
// The refit that follows needs the Cholesky factor of G_KK + λI for the
// kept set K; in the order N then the pool's kept neurons it is L_NN (the
// factor's first block), the kept rows of Xᵀ (X = L_NN⁻¹ G_NC, the
// factor's lower left block) and the factor of S's kept block, so
// reselect hands it over (reselection.refit) instead of the refit factoring
// G_KK again, with most of the refit's forward solve, which X_R already is
// (see below). λ is then the reselection's (ridge times the mean of G's
// whole diagonal) rather than the mean of G_KK's.
//
// G is the layer's [F, F] Gram matrix (natural order, both triangles),
// which reselect overwrites: the factor is formed in its place, so one
// layer's reselection holds one F×F matrix (and the refit's [H, K]
// right-hand side), not two. w is down_proj ([H, F]), keep the
// method's kept set (its size is kept), cand the candidates, ascending
// (every removed neuron among them).
func reselect(w []float32, H, F int, G []float64, keep, cand []int, ridge float64) (*reselection, error) {
	remove := F - len(keep)
	if remove == 0 {
		return &reselection{keep: keep, order: keep}, nil
	}
	if err := checkPool(cand, keep, F); err != nil {
		return nil, err
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
	if !(lambda > 0) {
		// Every input is zero on the calibration text: nothing to choose
		// by, and nothing to refit.
		return &reselection{keep: keep, order: keep}, nil
	}

	// M ([F, F], lower triangle) is G + λI with its rows and columns in
	// the order N then C, formed in G's place. Its Cholesky factor is
	// [[L_NN, 0], [Xᵀ, L_S]]: L_NN the factor of G_NN + λI, X = L_NN⁻¹
	// G_NC, and L_S the factor of S, which the factorisation's trailing
	// updates form on the way (only its lower triangle: half of what
	// S = G_CC + λI − XᵀX costs as a separate product).
	ord := append(append(make([]int, 0, F), N...), C...)
	M := G
	permuteSym(M, F, ord)
	for a := 0; a < F; a++ {
		M[a*F+a] += lambda
	}
	if err := cholesky(M, F, F); err != nil {
		return nil, err
	}
	LS := M[n*F+n:] // L_S, row stride F
	// P = S⁻¹ (P_CC of the whole inverse).
	P := make([]float64, c*c)
	for a := 0; a < c; a++ {
		P[a*c+a] = 1
	}
	cholSolve(LS, c, F, P, c)

	// Q = W_Cᵀ W_C, W_C the candidates' columns of down_proj: its diagonal
	// is their squared norms, which the greedy needs as the refit moves
	// the columns.
	Wt := make([]float64, c*H) // the candidates' columns, as rows
	negWt := make([]float64, c*H)
	for a := 0; a < c; a++ {
		for i := 0; i < H; i++ {
			v := float64(w[i*F+C[a]])
			Wt[a*H+i], negWt[a*H+i] = v, -v
		}
	}
	Q := make([]float64, c*c)
	ops.SubABt64(Q, c, negWt, H, Wt, H, c, c, H) // Q −= (−W_C)ᵀ W_C
	ck, err := obsGreedy(P, Q, c, remove)
	if err != nil {
		return nil, err
	}
	var rk []int // the pool's removed, as indices into C, ascending
	for a, k := 0, 0; a < c; a++ {
		if k < len(ck) && ck[k] == a {
			k++
		} else {
			rk = append(rk, a)
		}
	}

	// The factor of G_KK + λI in the order N then the pool's kept is M's
	// first n rows, then for each kept candidate its row of Xᵀ and the
	// factor of S's kept block. The refit's right-hand side needs
	// Y = L_KK⁻¹ G_KR, which the factorisation has mostly formed: its
	// first n rows are X's removed columns (X_R = L_NN⁻¹ G_NR), and the
	// rest is L_q⁻¹ S_qR with L_q the factor of S's kept block
	// (G_qR − X_qᵀ X_R = S_qR off the diagonal). So the forward solve of the
	// refit (K²·H/2 multiply-adds) is not repeated: refit only solves
	// backwards. S's blocks, S_ab = Σ_t L_S[a,t] L_S[b,t], and the rows of
	// X_R are read from the factor before its rows are overwritten; the
	// kept rows move up in ascending order, so none is read after it is
	// written.
	q, r := len(ck), len(rk)
	sdot := func(a, b int) float64 { // S[a, b] from L_S's rows
		t := min(a, b) + 1
		return dot64(LS[a*F:a*F+t], LS[b*F:b*F+t])
	}
	Sk := make([]float64, q*q)
	for i, a := range ck {
		for j, b := range ck[:i+1] {
			Sk[i*q+j] = sdot(a, b)
		}
	}
	SR := make([]float64, r*q) // row b: S[rk[b], ck]
	ops.Parallel(r, 16, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			for i, a := range ck {
				SR[b*q+i] = sdot(rk[b], a)
			}
		}
	})
	XR := make([]float64, r*n) // row b: X's column rk[b]
	for b, a := range rk {
		copy(XR[b*n:(b+1)*n], M[(n+a)*F:(n+a)*F+n])
	}
	for i, a := range ck {
		row := M[(n+i)*F:]
		copy(row[:n], M[(n+a)*F:(n+a)*F+n])
		copy(row[n:n+i+1], Sk[i*q:i*q+i+1])
	}
	if q > 0 {
		if err := cholesky(M[n*F+n:], q, F); err != nil {
			return nil, err
		}
		cholForward(M[n*F+n:], q, F, SR, r) // row b: (L_q⁻¹ S_qR)'s column b
	}
	// rhs = W_R Yᵀ ([H, K]: one right-hand side per output), as
	// rhs −= (−W_R) Yᵀ.
	k := n + q
	negWR := make([]float64, H*r)
	for i := 0; i < H; i++ {
		for b, a := range rk {
			negWR[i*r+b] = -float64(w[i*F+C[a]])
		}
	}
	rhs := make([]float64, H*k)
	if n > 0 {
		ops.SubAB64(rhs, k, negWR, r, XR, n, H, n, r)
	}
	if q > 0 {
		ops.SubAB64(rhs[n:], k, negWR, r, SR, q, H, q, r)
	}
	order := append([]int(nil), N...)
	for _, a := range ck {
		order = append(order, C[a])
	}
	out := append([]int(nil), order...)
	sort.Ints(out)
	return &reselection{keep: out, order: order, L: M, ld: F, lambda: lambda, rhs: rhs}, nil
}

// greedyBlock is how many removals obsGreedy defers before it applies
// them to its matrices, as one product of panels.
const greedyBlock = 32

// obsGreedy removes remove of c candidates one at a time, each time the
// one whose removal the refit of the others repairs best, and returns the
// kept ones (their indices, ascending). P ([c, c], its lower triangle read)
// is the candidates' block of the inverse Gram matrix and Q ([c, c],
// symmetric) = W_Cᵀ W_C; both are overwritten.
//
// Removing s raises the error by Q_ss / P_ss; the refit moves every other
// column as W_i −= f_i W_s (f = P_:s / P_ss), so P loses p_s p_sᵀ / P_ss
// and Q becomes Q − f q_sᵀ − q_s fᵀ + Q_ss f fᵀ = Q − f gᵀ − g fᵀ with
// g = q_s − (Q_ss/2) f. Applied at every removal these updates stream
// both matrices each time; instead they are kept as the columns of U
// (p_s / √P_ss), Fm and Gm for up to greedyBlock removals, the diagonals
// and the chosen row of each matrix are corrected from them (m·t
// multiply-adds for t deferred), and then P −= U Uᵀ and Q −= Fm Gmᵀ +
// Gm Fmᵀ run as products of panels, and the removed candidates leave the
// matrices.
func obsGreedy(P, Q []float64, c, remove int) ([]int, error) {
	for i := 0; i < c; i++ { // P symmetric, from its lower triangle
		for j := i + 1; j < c; j++ {
			P[i*c+j] = P[j*c+i]
		}
	}
	const k = greedyBlock
	m := c                 // candidates in P and Q (their row stride)
	slot := make([]int, c) // slot → candidate
	gone := make([]bool, c)
	dP, dQ := make([]float64, c), make([]float64, c)
	for i := range slot {
		slot[i] = i
		dP[i], dQ[i] = P[i*c+i], Q[i*c+i]
	}
	U, Fm, Gm := make([]float64, c*k), make([]float64, c*k), make([]float64, c*k) // [m, k]
	pv, qv := make([]float64, c), make([]float64, c)
	t := 0 // removals deferred
	for done := 0; done < remove; done++ {
		s := -1
		bestE := math.Inf(1)
		for i := 0; i < m; i++ {
			// The smallest error; on a tie, the lower candidate (slots stay
			// in the candidates' order).
			if e := dQ[i] / dP[i]; !gone[i] && e < bestE {
				s, bestE = i, e
			}
		}
		if s < 0 {
			return nil, fmt.Errorf("reselection: no candidate can go (%d left)", c-done)
		}
		// Row s of P and of Q as they are now.
		us, fs, gs := U[s*k:s*k+t], Fm[s*k:s*k+t], Gm[s*k:s*k+t]
		for i := 0; i < m; i++ {
			p, q := P[s*m+i], Q[s*m+i]
			for τ := 0; τ < t; τ++ {
				p -= U[i*k+τ] * us[τ]
				q -= Fm[i*k+τ]*gs[τ] + Gm[i*k+τ]*fs[τ]
			}
			pv[i], qv[i] = p, q
		}
		pss, half := dP[s], dQ[s]/2
		rs := 1 / math.Sqrt(pss)
		for i := 0; i < m; i++ {
			f := pv[i] / pss
			g := qv[i] - half*f
			U[i*k+t], Fm[i*k+t], Gm[i*k+t] = pv[i]*rs, f, g
			dP[i] -= f * pv[i]
			dQ[i] -= 2 * f * g
		}
		gone[s] = true
		if t++; t == k && done+1 < remove {
			m = applyDeferred(P, Q, m, t, U, Fm, Gm, slot, gone, dP, dQ)
			t = 0
		}
	}
	var kept []int
	for i := 0; i < m; i++ {
		if !gone[i] {
			kept = append(kept, slot[i])
		}
	}
	return kept, nil
}

// applyDeferred applies obsGreedy's t deferred removals to P and Q ([m, m])
// and drops the removed candidates from them and from the slots; it
// returns how many are left. The rows and columns move down in place, in
// ascending order, so none is read after it is written.
func applyDeferred(P, Q []float64, m, t int, U, Fm, Gm []float64, slot []int, gone []bool, dP, dQ []float64) int {
	const k = greedyBlock
	ops.SubABt64(P, m, U, k, U, k, m, m, t)
	FG, GF := make([]float64, m*2*t), make([]float64, m*2*t) // [Fm Gm] and [Gm Fm]
	for i := 0; i < m; i++ {
		copy(FG[i*2*t:], Fm[i*k:i*k+t])
		copy(FG[i*2*t+t:], Gm[i*k:i*k+t])
		copy(GF[i*2*t:], Gm[i*k:i*k+t])
		copy(GF[i*2*t+t:], Fm[i*k:i*k+t])
	}
	ops.SubABt64(Q, m, FG, 2*t, GF, 2*t, m, m, 2*t)
	var live []int
	for i := 0; i < m; i++ {
		if !gone[i] {
			live = append(live, i)
		}
	}
	n := len(live)
	for a, i := range live {
		for b, j := range live {
			P[a*n+b], Q[a*n+b] = P[i*m+j], Q[i*m+j]
		}
		slot[a], gone[a] = slot[i], false
		dP[a], dQ[a] = P[a*n+a], Q[a*n+a]
	}
	return n
}

// permuteSym reorders the symmetric A ([n, n]) in place to A[ord[a],
// ord[b]] at (a, b): its rows by following the permutation's cycles (one
// row moved at a time), then each row's columns.
func permuteSym(A []float64, n int, ord []int) {
	done := make([]bool, n)
	tmp := make([]float64, n)
	for a := 0; a < n; a++ {
		if done[a] || ord[a] == a {
			continue
		}
		copy(tmp, A[a*n:(a+1)*n])
		j := a
		for {
			done[j] = true
			k := ord[j]
			if k == a {
				copy(A[j*n:(j+1)*n], tmp)
				break
			}
			copy(A[j*n:(j+1)*n], A[k*n:(k+1)*n])
			j = k
		}
	}
	ops.Parallel(n, 64, func(lo, hi int) {
		t := make([]float64, n)
		for a := lo; a < hi; a++ {
			row := A[a*n : (a+1)*n]
			for b, j := range ord {
				t[b] = row[j]
			}
			copy(row, t)
		}
	})
}

// reselection is what reselect chose, and the factor its refit reuses.
type reselection struct {
	keep   []int     // the kept neurons, ascending
	order  []int     // the kept neurons in the factor's order
	L      []float64 // [k, k] at row stride ld, lower triangle: the factor of G_KK + λI in that order (nil: the weights stay)
	ld     int
	lambda float64
	rhs    []float64 // [H, k]: row i is Σ_b W[i, R_b] (L⁻¹ G_KR)[:, b], the refit's forward-solved right-hand side
}

// refit is refitCols for the kept set the reselection chose, on the same
// G and the same w (down_proj, [rows, cols]) that reselect had: its factor
// and its right-hand side, which only the backward solve is left to turn
// into the correction (G_KK + λI)⁻¹ G_KR W_Rᵀ. It returns the refitted
// columns [rows, len(keep)], ascending.
func (r *reselection) refit(w []float32, rows, cols int) []float64 {
	k := len(r.keep)
	out := make([]float64, rows*k)
	for i := 0; i < rows; i++ {
		for a, j := range r.order {
			out[i*k+a] = float64(w[i*cols+j])
		}
	}
	if k < cols && k > 0 && r.L != nil {
		if r.rhs == nil {
			panic("reselection.refit called twice: its right-hand side is solved in place")
		}
		cholBackward(r.L, k, r.ld, r.rhs, rows)
		for i := range out {
			out[i] += r.rhs[i]
		}
		r.rhs = nil
	}
	// From the factor's order to the ascending one.
	pos := make([]int, cols)
	for a, j := range r.order {
		pos[j] = a
	}
	sorted := make([]float64, rows*k)
	for i := 0; i < rows; i++ {
		for a, j := range r.keep {
			sorted[i*k+a] = out[i*k+pos[j]]
		}
	}
	return sorted
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
