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
// (ties by the summed scaled importance), and the count lowest go.
//
// G is the layer's [F, F] Gram matrix (natural order, symmetric), w
// down_proj ([H, F]), energy[d][k] the sum over document d's tokens of
// a_k², kept how many neurons stay. It returns the kept neurons in order.
func rerankAware(w []float32, H, F int, G []float64, energy [][]float64, kept int, ridge float64) ([]int, error) {
	if kept >= F {
		out := make([]int, F)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	A := append([]float64(nil), G...)
	diag := 0.0
	for k := 0; k < F; k++ {
		diag += G[k*F+k]
	}
	lambda := ridge * diag / float64(F)
	if !(lambda > 0) {
		lambda = 1
	}
	for k := 0; k < F; k++ {
		A[k*F+k] += lambda
	}
	akk := make([]float64, F)
	for k := range akk {
		akk[k] = A[k*F+k]
	}
	if err := cholesky(A, F, F); err != nil {
		return nil, err
	}
	P := make([]float64, F*F)
	for k := 0; k < F; k++ {
		P[k*F+k] = 1
	}
	cholSolve(A, F, F, P, F)
	scale := make([]float64, F) // ||W[:,k]||² × the share the refit cannot repair
	for k := 0; k < F; k++ {
		c2 := 0.0
		for i := 0; i < H; i++ {
			v := float64(w[i*F+k])
			c2 += v * v
		}
		share := 1 / (akk[k] * P[k*F+k])
		scale[k] = c2 * math.Min(1, math.Max(share, 0))
	}
	score := make([]float64, F)
	tie := make([]float64, F)
	imp := make([]float64, F)
	rank := make([]float64, F)
	for _, e := range energy {
		for k := range imp {
			imp[k] = math.Sqrt(e[k] * scale[k])
			tie[k] += imp[k]
		}
		percentile(imp, rank)
		for k := range score {
			score[k] = math.Max(score[k], rank[k])
		}
	}
	us := make([]unit, F)
	for k := range us {
		us[k] = unit{idx: k, score: score[k], tie: tie[k]}
	}
	sort.Slice(us, func(i, j int) bool { return less(us[i], us[j]) })
	out := make([]int, 0, kept)
	for _, u := range us[F-kept:] {
		out = append(out, u.idx)
	}
	sort.Ints(out)
	return out, nil
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
