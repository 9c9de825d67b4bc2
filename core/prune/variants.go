package prune

import (
	"math"
	"sort"
	"strings"
)

// Experimental rank rules for Cus-Prun (issue 14, item 2), reachable only
// by name ("cusprun:<rule>") from tools/quality, never from the CLI's
// method list: each keeps Cus-Prun's per-document deactivation importance
// and changes how the documents' verdicts are combined. Attention groups
// keep the max rule in every variant.
//
//	sum      summed importance over documents (the tie-break alone)
//	energy   sqrt of summed squared importance: ||a_k|| over all tokens × ||W_down[:,k]||
//	mean     mean percentile rank over documents
//	qNN      the NN-th percentile of the documents' ranks (q90: a unit
//	         counts as needed if it ranks high in at least a tenth of them)
func (s *Scorer) variant(method string) (UnitScores, bool) {
	rule, ok := strings.CutPrefix(method, "cusprun:")
	if !ok {
		return UnitScores{}, false
	}
	out := s.Scores("cusprun", 0)
	for l, ls := range s.layers {
		ffn := out.FFN[l]
		ranks := s.ranks[l]
		for k := range ffn {
			switch {
			case rule == "sum":
				ffn[k] = ls.ffnImp[k]
			case rule == "energy":
				ffn[k] = math.Sqrt(ls.ffnSq[k] * ls.downCol2[k])
			case rule == "mean":
				m := 0.0
				for _, r := range ranks {
					m += float64(r[k])
				}
				ffn[k] = m / float64(len(ranks))
			case strings.HasPrefix(rule, "q"):
				var q float64
				for _, c := range rule[1:] {
					q = q*10 + float64(c-'0')
				}
				v := make([]float64, len(ranks))
				for d, r := range ranks {
					v[d] = float64(r[k])
				}
				sort.Float64s(v)
				ffn[k] = v[min(len(v)-1, int(q/100*float64(len(v))))]
			}
		}
	}
	return out, true
}

// ExperimentRanks makes scorers keep every document's ranks for the
// variants above (memory: documents × FFN width × layers); tools/quality
// sets it, nothing else does.
var ExperimentRanks bool

// keepRanks records one document's FFN ranks of layer l.
func (s *Scorer) keepRanks(l int, rank []float64) {
	if !ExperimentRanks {
		return
	}
	if s.ranks == nil {
		s.ranks = make([][][]float32, s.cfg.Layers)
	}
	r := make([]float32, len(rank))
	for i, v := range rank {
		r[i] = float32(v)
	}
	s.ranks[l] = append(s.ranks[l], r)
}
