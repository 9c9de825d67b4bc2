package prune

import (
	"math"
	"math/rand/v2"
	"testing"
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
		score := make([]float64, F) // every input equally ranked: the pool is all
		keep := []int{0, 1, 2, 3, 4, 5}
		got, err := reselect(w, H, F, G, keep, score, score, float64(F), 1e-12)
		if err != nil {
			t.Fatal(err)
		}
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
		rank := make([]float64, F)
		for k := range rank {
			rank[k] = 1
		}
		rank[(best+1)%F] = 0
		got, err = reselect(w, H, F, G, keep, rank, rank, 1, 1e-12)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range got {
			if k == (best+1)%F {
				t.Errorf("trial %d: the only candidate %d was kept", trial, k)
			}
		}
	}
}
