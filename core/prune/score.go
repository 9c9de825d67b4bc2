// Package prune is the Cus-Prun method (DESIGN §1) and its baselines:
// scoring units during the batched forward pass, selecting which to remove
// for a parameter budget, planning the new shapes, exporting the expert by
// slicing tensors streamed from the source, and evaluating before and after.
//
// A unit is one FFN neuron (a row of gate/up or fc1, a column of down or fc2)
// or one attention group (a KV head with the query heads that share it).
package prune

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/cusprun/cusprun/core/model"
)

// Methods are the ways to score units, Cus-Prun first.
var Methods = []string{"cusprun", "wanda-sp", "flap", "magnitude", "random"}

// layerScores is what scoring keeps for one layer, summed or maxed over all
// batches of calibration documents.
type layerScores struct {
	// Cus-Prun: max over documents of the unit's percentile rank by
	// deactivation importance within its layer, and the summed importance
	// (the tie-break).
	ffnRank, attnRank []float64
	ffnImp, attnImp   []float64
	// Input statistics of down_proj and o_proj over all tokens.
	ffnSum, ffnSq []float64
	oSum, oSq     []float64
	tokens        int
	// Weight-only quantities, from the layer's weights.
	downCol2, downColAbs []float64 // per neuron: ||W_down[:,k]||^2, mean_i |W_down[i,k]|
	ffnMag, attnMag      []float64 // squared norm of every weight a unit owns
	oCol2, oColAbs       []float64 // per o_proj input column
	group                int
	hd                   int
}

// Scorer accumulates scores over any number of calibration batches.
type Scorer struct {
	cfg    *model.Config
	layers []*layerScores
	docs   int
	// ranks keeps, per layer, every document's percentile ranks of the
	// FFN neurons, for the experimental rank rules of variants.go.
	ranks [][][]float32
}

// NewScorer starts scoring a model of this config.
func NewScorer(c *model.Config) *Scorer {
	return &Scorer{cfg: c, layers: make([]*layerScores, c.Layers)}
}

// Hook returns the model.LayerHook that feeds one batch's statistics in.
func (s *Scorer) Hook() model.LayerHook {
	return func(L *model.Layer, st *model.Stats) error {
		s.add(L, st)
		return nil
	}
}

// Docs is the number of documents scored so far.
func (s *Scorer) Docs() int { return s.docs }

func (s *Scorer) add(L *model.Layer, st *model.Stats) {
	c := s.cfg
	ls := s.layers[L.Index]
	if ls == nil {
		ls = newLayerScores(c, L)
		s.layers[L.Index] = ls
	}
	F, G := L.FFN, L.KVHeads
	imp := make([]float64, max(F, G))
	rank := make([]float64, max(F, G))
	for d := range st.FFNDoc {
		// FFN neuron k: ||a[:,k]|| * ||W_down[:,k]||.
		for k := 0; k < F; k++ {
			imp[k] = math.Sqrt(float64(st.FFNDoc[d][k]) * ls.downCol2[k])
			ls.ffnImp[k] += imp[k]
		}
		percentile(imp[:F], rank[:F])
		for k := 0; k < F; k++ {
			ls.ffnRank[k] = math.Max(ls.ffnRank[k], rank[k])
		}
		s.keepRanks(L.Index, rank[:F])
		// Attention group u: || sum_{h in u} z_h W_o[h] ||.
		for u := 0; u < G; u++ {
			imp[u] = math.Sqrt(float64(st.AttnDoc[d][u]))
			ls.attnImp[u] += imp[u]
		}
		percentile(imp[:G], rank[:G])
		for u := 0; u < G; u++ {
			ls.attnRank[u] = math.Max(ls.attnRank[u], rank[u])
		}
	}
	for k := range st.FFNSum {
		ls.ffnSum[k] += st.FFNSum[k]
		ls.ffnSq[k] += st.FFNSq[k]
	}
	for j := range st.OSum {
		ls.oSum[j] += st.OSum[j]
		ls.oSq[j] += st.OSq[j]
	}
	ls.tokens += st.Tokens
	if L.Index == 0 {
		s.docs += len(st.FFNDoc)
	}
}

// percentile writes each value's rank within the slice divided by its
// length: the lowest gets 0, the highest (n-1)/n. Equal values share the
// lowest rank of their run, so ties never favour an index.
func percentile(v, out []float64) {
	n := len(v)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	for r := 0; r < n; {
		e := r
		for e+1 < n && v[idx[e+1]] == v[idx[r]] {
			e++
		}
		for i := r; i <= e; i++ {
			out[idx[i]] = float64(r) / float64(n)
		}
		r = e + 1
	}
}

func newLayerScores(c *model.Config, L *model.Layer) *layerScores {
	F, G, H, hd := L.FFN, L.KVHeads, c.Hidden, c.HeadDim
	grp := L.Heads / L.KVHeads
	nq := L.Heads * hd
	ls := &layerScores{
		ffnRank: make([]float64, F), attnRank: make([]float64, G),
		ffnImp: make([]float64, F), attnImp: make([]float64, G),
		ffnSum: make([]float64, F), ffnSq: make([]float64, F),
		oSum: make([]float64, nq), oSq: make([]float64, nq),
		downCol2: make([]float64, F), downColAbs: make([]float64, F),
		ffnMag: make([]float64, F), attnMag: make([]float64, G),
		oCol2: make([]float64, nq), oColAbs: make([]float64, nq),
		group: grp, hd: hd,
	}
	down := L.Down.F32() // [H, F]
	for i := 0; i < H; i++ {
		row := down[i*F : (i+1)*F]
		for k, w := range row {
			ls.downCol2[k] += float64(w) * float64(w)
			ls.downColAbs[k] += math.Abs(float64(w))
		}
	}
	for k := range ls.downColAbs {
		ls.downColAbs[k] /= float64(H)
	}
	rowNorm2 := func(w []float32, r, cols int) float64 {
		s := 0.0
		for _, v := range w[r*cols : (r+1)*cols] {
			s += float64(v) * float64(v)
		}
		return s
	}
	for k := 0; k < F; k++ {
		ls.ffnMag[k] = ls.downCol2[k] + rowNorm2(L.Up.F32(), k, H)
		if L.Gate != nil {
			ls.ffnMag[k] += rowNorm2(L.Gate.F32(), k, H)
		}
	}
	o := L.O.F32() // [H, nq]
	for i := 0; i < H; i++ {
		row := o[i*nq : (i+1)*nq]
		for j, w := range row {
			ls.oCol2[j] += float64(w) * float64(w)
			ls.oColAbs[j] += math.Abs(float64(w))
		}
	}
	for j := range ls.oColAbs {
		ls.oColAbs[j] /= float64(H)
	}
	for u := 0; u < G; u++ {
		m := 0.0
		for r := u * hd; r < (u+1)*hd; r++ {
			m += rowNorm2(L.K.F32(), r, H) + rowNorm2(L.V.F32(), r, H)
		}
		for r := u * grp * hd; r < (u+1)*grp*hd; r++ {
			m += rowNorm2(L.Q.F32(), r, H) + ls.oCol2[r]
		}
		ls.attnMag[u] = m
	}
	return ls
}

// UnitScores are one method's scores: higher means more important. Where
// a method has a second key (Cus-Prun's tie-break), Tie holds it.
type UnitScores struct {
	FFN, Attn       [][]float64
	FFNTie, AttnTie [][]float64
	// FFNImp and AttnImp are every unit's deactivation importance summed
	// over the calibration documents, whatever the method: selection uses
	// them to split a uniform budget between neurons and groups, so that all
	// methods prune the same counts and differ only in which units.
	FFNImp, AttnImp [][]float64
	// Comparable says whether scores of different layers can be ranked
	// against each other (adaptive placement needs it).
	Comparable bool
}

// Scores returns the scores of a method.
func (s *Scorer) Scores(method string, seed uint64) UnitScores {
	c := s.cfg
	out := UnitScores{FFN: make([][]float64, c.Layers), Attn: make([][]float64, c.Layers),
		FFNTie: make([][]float64, c.Layers), AttnTie: make([][]float64, c.Layers)}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	if v, ok := s.variant(method); ok {
		return v
	}
	for l, ls := range s.layers {
		F, G := len(ls.ffnRank), len(ls.attnRank)
		ffn, attn := make([]float64, F), make([]float64, G)
		ffnTie, attnTie := make([]float64, F), make([]float64, G)
		groupSum := func(col func(j int) float64) {
			gw := ls.group * ls.hd
			for u := 0; u < G; u++ {
				for j := u * gw; j < (u+1)*gw; j++ {
					attn[u] += col(j)
				}
			}
		}
		n := float64(max(ls.tokens, 1))
		switch method {
		case "cusprun":
			copy(ffn, ls.ffnRank)
			copy(attn, ls.attnRank)
			copy(ffnTie, ls.ffnImp)
			copy(attnTie, ls.attnImp)
			out.Comparable = true
		case "wanda-sp":
			// mean over output rows of |W_ij| * ||X_j||, X_j the input column.
			for k := range ffn {
				ffn[k] = ls.downColAbs[k] * math.Sqrt(ls.ffnSq[k])
			}
			groupSum(func(j int) float64 { return ls.oColAbs[j] * math.Sqrt(ls.oSq[j]) })
		case "flap":
			// Fluctuation Var(X_j) * ||W_:,j||^2, standardised per layer.
			for k := range ffn {
				mean := ls.ffnSum[k] / n
				ffn[k] = math.Max(ls.ffnSq[k]/n-mean*mean, 0) * ls.downCol2[k]
			}
			groupSum(func(j int) float64 {
				mean := ls.oSum[j] / n
				return math.Max(ls.oSq[j]/n-mean*mean, 0) * ls.oCol2[j]
			})
			standardise(ffn)
			standardise(attn)
			out.Comparable = true
		case "magnitude":
			copy(ffn, ls.ffnMag)
			copy(attn, ls.attnMag)
		case "random":
			for k := range ffn {
				ffn[k] = rng.Float64()
			}
			for u := range attn {
				attn[u] = rng.Float64()
			}
			out.Comparable = true
		}
		out.FFN[l], out.Attn[l], out.FFNTie[l], out.AttnTie[l] = ffn, attn, ffnTie, attnTie
		out.FFNImp = append(out.FFNImp, ls.ffnImp)
		out.AttnImp = append(out.AttnImp, ls.attnImp)
	}
	return out
}

// FFNMean is the mean over calibration tokens of each down_proj input
// (FLAP's bias compensation needs it).
func (s *Scorer) FFNMean(l int) []float64 {
	ls := s.layers[l]
	out := make([]float64, len(ls.ffnSum))
	for k := range out {
		out[k] = ls.ffnSum[k] / float64(max(ls.tokens, 1))
	}
	return out
}

// OMean is the same for o_proj's inputs.
func (s *Scorer) OMean(l int) []float64 {
	ls := s.layers[l]
	out := make([]float64, len(ls.oSum))
	for j := range out {
		out[j] = ls.oSum[j] / float64(max(ls.tokens, 1))
	}
	return out
}

func standardise(v []float64) {
	if len(v) < 2 {
		return
	}
	mean, sd := 0.0, 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	sd = math.Sqrt(sd / float64(len(v)))
	if sd == 0 {
		sd = 1
	}
	for i := range v {
		v[i] = (v[i] - mean) / sd
	}
}
