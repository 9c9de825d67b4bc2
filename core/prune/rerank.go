package prune

import (
	"math"
	"sort"

	"github.com/cusprun/cusprun/core/ops"
)

// rerankAware is Cus-Prun's rule made aware of the refit (experimental,
// CompensateOptions.Aware). Cus-Prun keeps a neuron that some document
// needs: its deactivation importance ||a_k|| ||W_down[:,k]|| over that
// document ranks high in the layer. Once the kept neurons are refitted,
// what removing k costs is only the part of a_k that the other neurons
// cannot reproduce linearly: over the calibration text, with P the inverse
// of the (ridge-regularised) Gram matrix G, that part of a_k's energy is
// 1 / (G_kk P_kk) of it (Optimal Brain Surgeon's ||W[:,k]||² / P_kk against
// ||W[:,k]||² G_kk without the refit). So each document's importance is
// scaled by the square root of that share, every document ranks the
// layer's neurons by it, a neuron's score is its highest percentile rank
// (ties by the summed scaled importance), and the count lowest go. Two
// neurons that copy each other each look repairable by the other, so the
// removal goes in rounds (Optimal Brain Surgeon's greedy steps, coarser):
// each round removes its share of the count and the next one recomputes
// the shares over the neurons still there.
//
// G is the layer's [F, F] Gram matrix (natural order, symmetric), w
// down_proj ([H, F]), energy[d][k] the sum over document d's tokens of
// a_k², kept how many neurons stay, rounds how many rounds the removal
// takes. It returns the kept neurons in order.
func rerankAware(w []float32, H, F int, G []float64, energy [][]float64, kept int, ridge float64, rounds int) ([]int, error) {
	diag := 0.0
	for k := 0; k < F; k++ {
		diag += G[k*F+k]
	}
	lambda := ridge * diag / float64(F)
	if !(lambda > 0) {
		lambda = 1
	}
	col2 := make([]float64, F)
	for k := range col2 {
		for i := 0; i < H; i++ {
			v := float64(w[i*F+k])
			col2[k] += v * v
		}
	}
	alive := make([]int, F)
	for i := range alive {
		alive[i] = i
	}
	rounds = max(rounds, 1)
	for r := 0; r < rounds && len(alive) > kept; r++ {
		n := len(alive)
		drop := (n - kept + rounds - r - 1) / (rounds - r)
		// P = (G_SS + λI)⁻¹ over the neurons still there, S.
		A := make([]float64, n*n)
		for a, i := range alive {
			for b, j := range alive {
				A[a*n+b] = G[i*F+j]
			}
			A[a*n+a] += lambda
		}
		akk := make([]float64, n)
		for a := range akk {
			akk[a] = A[a*n+a]
		}
		if err := cholesky(A, n, n); err != nil {
			return nil, err
		}
		P := make([]float64, n*n)
		for a := 0; a < n; a++ {
			P[a*n+a] = 1
		}
		cholSolve(A, n, n, P, n)
		// ||W[:,k]||² × the share of a_k the refit cannot repair.
		scale := make([]float64, n)
		for a, k := range alive {
			share := 1 / (akk[a] * P[a*n+a])
			scale[a] = col2[k] * math.Min(1, math.Max(share, 0))
		}
		score := make([]float64, n)
		tie := make([]float64, n)
		imp := make([]float64, n)
		rank := make([]float64, n)
		for _, e := range energy {
			for a, k := range alive {
				imp[a] = math.Sqrt(e[k] * scale[a])
				tie[a] += imp[a]
			}
			percentile(imp, rank)
			for a := range score {
				score[a] = math.Max(score[a], rank[a])
			}
		}
		us := make([]unit, n)
		for a, k := range alive {
			us[a] = unit{idx: k, score: score[a], tie: tie[a]}
		}
		sort.Slice(us, func(i, j int) bool { return less(us[i], us[j]) })
		alive = alive[:0]
		for _, u := range us[drop:] {
			alive = append(alive, u.idx)
		}
		sort.Ints(alive)
	}
	return alive, nil
}

// docEnergy adds, for rows [row, row+n) of a batch whose documents are
// spans, each token's a_k² to its document's energy (energy[0] is the
// batch's first document); a holds those n rows ([n, F]).
func docEnergy(energy [][]float64, spans []ops.Span, a []float32, row, n, F int) {
	d := 0
	for t := 0; t < n; t++ {
		r := row + t
		for d < len(spans) && r >= spans[d].Start+spans[d].Len {
			d++
		}
		if d == len(spans) {
			return
		}
		e := energy[d]
		for k, v := range a[t*F : (t+1)*F] {
			e[k] += float64(v) * float64(v)
		}
	}
}
