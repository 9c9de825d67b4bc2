package prune

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cusprun/cusprun/core/model"
)

// TestReselectFindsTheBestSingleRemoval: removing one input, the greedy
// choice is exact, so it must match the brute force over every input of
// "remove it, refit the rest by the normal equations, measure the output
// error"; and it never removes an input outside the candidate pool.
func TestReselectFindsTheBestSingleRemoval(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const F, H, n = 7, 3, 60
	for trial := 0; trial < 5; trial++ {
		X := make([]float64, n*F)
		for i := range X {
			X[i] = r.NormFloat64()
		}
		// Correlated inputs, so that some are cheaper to remove.
		for t0 := 0; t0 < n; t0++ {
			X[t0*F+1] += 0.9 * X[t0*F+0]
			X[t0*F+5] += 0.7 * X[t0*F+3]
		}
		w := make([]float32, H*F)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		G := make([]float64, F*F)
		Gm := make([][]float64, F)
		for i := 0; i < F; i++ {
			Gm[i] = make([]float64, F)
			for j := 0; j < F; j++ {
				for t0 := 0; t0 < n; t0++ {
					G[i*F+j] += X[t0*F+i] * X[t0*F+j]
				}
				Gm[i][j] = G[i*F+j]
			}
		}
		errAfter := func(k int) float64 {
			var keep []int
			for j := 0; j < F; j++ {
				if j != k {
					keep = append(keep, j)
				}
			}
			A := make([][]float64, len(keep))
			for a := range A {
				A[a] = make([]float64, len(keep))
				for b := range A[a] {
					A[a][b] = Gm[keep[a]][keep[b]]
				}
			}
			e := 0.0
			for i := 0; i < H; i++ {
				rhs := make([]float64, len(keep))
				for a, ka := range keep {
					for j := 0; j < F; j++ {
						rhs[a] += Gm[ka][j] * float64(w[i*F+j])
					}
				}
				x := solveDense(A, rhs)
				for t0 := 0; t0 < n; t0++ {
					y := 0.0
					for j := 0; j < F; j++ {
						y += X[t0*F+j] * float64(w[i*F+j])
					}
					for a, ka := range keep {
						y -= X[t0*F+ka] * x[a]
					}
					e += y * y
				}
			}
			return e
		}
		best, bestE := -1, math.Inf(1)
		for k := 0; k < F; k++ {
			if e := errAfter(k); e < bestE {
				best, bestE = k, e
			}
		}
		keep := []int{0, 1, 2, 3, 4, 5}
		all := []int{0, 1, 2, 3, 4, 5, 6} // every input a candidate
		// reselect overwrites its matrix: each call gets a copy.
		rs, err := reselect(w, H, F, slices.Clone(G), keep, all, 1e-12)
		if err != nil {
			t.Fatal(err)
		}
		got := rs.keep
		removed := -1
		for k, in := 0, 0; k < F; k++ {
			if in < len(got) && got[in] == k {
				in++
			} else {
				removed = k
			}
		}
		if len(got) != F-1 || removed != best {
			t.Errorf("trial %d: reselect removed %d (kept %v); brute force says %d (error %.4g vs %.4g)", trial, removed, got, best, errAfter(removed), bestE)
		}
		// A pool of one candidate: that candidate goes, whatever the refit says.
		only := (best + 1) % F
		var others []int
		for k := 0; k < F; k++ {
			if k != only {
				others = append(others, k)
			}
		}
		if rs, err = reselect(w, H, F, slices.Clone(G), others, []int{only}, 1e-12); err != nil {
			t.Fatal(err)
		}
		got = rs.keep
		for _, k := range got {
			if k == only {
				t.Errorf("trial %d: the only candidate %d was kept", trial, k)
			}
		}
	}
}

// TestReselectIsTheWholeInverseGreedy: reselect works on the pool's block
// of the inverse only (a Schur complement); it must remove what the plain
// greedy on the whole inverse (G + λI)⁻¹, formed here by Gauss-Jordan
// elimination and updated over every input, removes.
func TestReselectIsTheWholeInverseGreedy(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 15))
	const H, n = 6, 200
	for trial := 0; trial < 5; trial++ {
		// The last trial removes more than three of the greedy's deferred
		// blocks.
		F, remove, pool := 48, 8+2*trial, 8+2*trial+(8+2*trial)/2+trial
		if trial == 4 {
			F, remove, pool = 160, 3*greedyBlock+7, 150
		}
		X := make([]float64, n*F)
		for i := range X {
			X[i] = r.NormFloat64()
		}
		for t0 := 0; t0 < n; t0++ { // correlated pairs, so the refit matters
			for k := 0; k+1 < F; k += 3 {
				X[t0*F+k+1] += 0.8 * X[t0*F+k]
			}
		}
		G := make([]float64, F*F)
		for i := 0; i < F; i++ {
			for j := 0; j < F; j++ {
				for t0 := 0; t0 < n; t0++ {
					G[i*F+j] += X[t0*F+i] * X[t0*F+j]
				}
			}
		}
		w := make([]float32, H*F)
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		perm := r.Perm(F)
		cand := append([]int(nil), perm[:pool]...) // the first remove go in the plan
		slices.Sort(cand)
		keep := append([]int(nil), perm[remove:]...)
		slices.Sort(keep)
		const ridge = 1e-3
		rs, err := reselect(w, H, F, slices.Clone(G), keep, cand, ridge)
		if err != nil {
			t.Fatal(err)
		}
		got := rs.keep
		want := wholeInverseGreedy(w, H, F, G, cand, remove, ridge)
		if !slices.Equal(got, want) {
			t.Errorf("trial %d: reselect keeps %v, the whole-inverse greedy %v", trial, got, want)
		}
		if len(got) != len(keep) {
			t.Errorf("trial %d: %d kept, want %d", trial, len(got), len(keep))
		}
		// The refit on the reselection's factor is the ridge refit of the
		// kept set solved by Gaussian elimination: (G_KK + λI) W'ᵀ =
		// G_K: Wᵀ + λ W_Kᵀ, output row by output row.
		refit := rs.refit(w, H, F)
		k := len(got)
		GKK := make([][]float64, k)
		for a, i := range got {
			GKK[a] = make([]float64, k)
			for b, j := range got {
				GKK[a][b] = G[i*F+j]
			}
			GKK[a][a] += rs.lambda
		}
		worst := 0.0
		for i := 0; i < H; i++ {
			rhs := make([]float64, k)
			for a, ka := range got {
				for j := 0; j < F; j++ {
					rhs[a] += G[ka*F+j] * float64(w[i*F+j])
				}
				rhs[a] += rs.lambda * float64(w[i*F+ka])
			}
			x := solveDense(GKK, rhs)
			for a := range x {
				worst = max(worst, math.Abs(x[a]-refit[i*k+a])/(1+math.Abs(x[a])))
			}
		}
		if worst > 1e-9 {
			t.Errorf("trial %d: the refit on the reselection's factor is %g from the dense solve", trial, worst)
		}
	}
}

// wholeInverseGreedy is the Optimal Brain Surgeon greedy written plainly:
// P = (G + λI)⁻¹ over every input, W the whole weight, both updated in
// full at every removal; it returns the kept inputs, ascending.
func wholeInverseGreedy(w []float32, H, F int, G []float64, pool []int, remove int, ridge float64) []int {
	diag := 0.0
	for i := 0; i < F; i++ {
		diag += G[i*F+i]
	}
	lambda := ridge * diag / float64(F)
	// Gauss-Jordan on [G + λI | I].
	M := make([][]float64, F)
	for i := range M {
		M[i] = make([]float64, 2*F)
		copy(M[i], G[i*F:(i+1)*F])
		M[i][i] += lambda
		M[i][F+i] = 1
	}
	for c := 0; c < F; c++ {
		p := c
		for i := c + 1; i < F; i++ {
			if math.Abs(M[i][c]) > math.Abs(M[p][c]) {
				p = i
			}
		}
		M[c], M[p] = M[p], M[c]
		d := M[c][c]
		for j := range M[c] {
			M[c][j] /= d
		}
		for i := 0; i < F; i++ {
			if i != c && M[i][c] != 0 {
				f := M[i][c]
				for j := range M[i] {
					M[i][j] -= f * M[c][j]
				}
			}
		}
	}
	P := make([][]float64, F)
	for i := range P {
		P[i] = M[i][F:]
	}
	W := make([][]float64, H)
	for i := range W {
		W[i] = make([]float64, F)
		for j := 0; j < F; j++ {
			W[i][j] = float64(w[i*F+j])
		}
	}
	gone := make([]bool, F)
	for step := 0; step < remove; step++ {
		best, bestE := -1, math.Inf(1)
		for _, k := range pool {
			if gone[k] {
				continue
			}
			e := 0.0
			for i := 0; i < H; i++ {
				e += W[i][k] * W[i][k]
			}
			if e /= P[k][k]; e < bestE {
				best, bestE = k, e
			}
		}
		k := best
		pk := append([]float64(nil), P[k]...)
		for i := 0; i < H; i++ {
			f := W[i][k] / pk[k]
			for j := 0; j < F; j++ {
				W[i][j] -= f * pk[j]
			}
		}
		for i := 0; i < F; i++ {
			f := pk[i] / pk[k]
			for j := 0; j < F; j++ {
				P[i][j] -= f * pk[j]
			}
		}
		gone[k] = true
	}
	var kept []int
	for k := 0; k < F; k++ {
		if !gone[k] {
			kept = append(kept, k)
		}
	}
	return kept
}

// TestSetPoolNamesTheRemovedAndTheNextLowest: a layer's pool is its removed
// neurons and then the kept ones ranked lowest (score, then tie), pool × the
// removed count in all; a layer that loses nothing has none; a pool of 1
// clears them.
func TestSetPoolNamesTheRemovedAndTheNextLowest(t *testing.T) {
	c := &model.Config{Layers: 2, FFN: 10}
	p := &Plan{From: c, KeepFFN: [][]int{{0, 1, 2, 3, 4, 5, 7, 9}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}}
	sc := UnitScores{
		FFN:    [][]float64{{9, 1, 8, 1, 7, 6, 0, 5, 0, 4}, make([]float64, 10)},
		FFNTie: [][]float64{{0, 2, 0, 1, 0, 0, 0, 0, 0, 0}, make([]float64, 10)},
	}
	p.SetPool(sc, 2) // 2 removed (6, 8): 2 more, the lowest kept: 3 (1, tie 1) and 1 (1, tie 2)
	if want := []int{1, 3, 6, 8}; !slices.Equal(p.PoolFFN[0], want) {
		t.Errorf("layer 0's pool is %v, want %v", p.PoolFFN[0], want)
	}
	if p.PoolFFN[1] != nil {
		t.Errorf("layer 1 loses nothing but has the pool %v", p.PoolFFN[1])
	}
	p.SetPool(sc, 1.5) // ceil(3) = 3: one more than the removed
	if want := []int{3, 6, 8}; !slices.Equal(p.PoolFFN[0], want) {
		t.Errorf("with 1.5, layer 0's pool is %v, want %v", p.PoolFFN[0], want)
	}
	p.SetPool(sc, 1)
	if p.PoolFFN != nil {
		t.Errorf("a pool of 1 left %v", p.PoolFFN)
	}
	if err := checkPool([]int{1, 6}, p.KeepFFN[0], 10); err == nil {
		t.Errorf("a pool without removed neuron 8 was accepted")
	}
}

// TestPermuteSymIsTheDefinition: in place, A[ord[a], ord[b]] lands at
// (a, b), for permutations with fixed points, a long cycle and short ones.
func TestPermuteSymIsTheDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 9))
	for _, n := range []int{1, 2, 7, 70} {
		for trial := 0; trial < 3; trial++ {
			A := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := 0; j <= i; j++ {
					A[i*n+j] = r.NormFloat64()
					A[j*n+i] = A[i*n+j]
				}
			}
			ord := r.Perm(n)
			if trial == 0 {
				for i := range ord {
					ord[i] = i
				}
				if n > 3 {
					ord[1], ord[3] = ord[3], ord[1]
				}
			}
			got := slices.Clone(A)
			permuteSym(got, n, ord)
			for a := 0; a < n; a++ {
				for b := 0; b < n; b++ {
					if want := A[ord[a]*n+ord[b]]; got[a*n+b] != want {
						t.Fatalf("n %d trial %d: (%d, %d) is %g, want A[%d, %d] = %g", n, trial, a, b, got[a*n+b], ord[a], ord[b], want)
					}
				}
			}
		}
	}
}
