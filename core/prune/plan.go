package prune

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Plan says which units of every layer survive, and the model they make.
type Plan struct {
	Method    string  `json:"method"`
	Ratio     float64 `json:"ratio"`
	Placement string  `json:"placement"`
	// Kept neuron and KV-group indices per layer, ascending.
	KeepFFN    [][]int `json:"keep_ffn"`
	KeepGroups [][]int `json:"keep_groups"`
	// PoolFFN, when set (SetPool), lists per layer the FFN neurons the refit
	// may choose the removed among (reselect.go): the removed ones and the
	// next lowest ranked, ascending; nil for a layer whose removed neurons
	// are final. The refit rewrites KeepFFN (the counts stay).
	PoolFFN [][]int `json:"pool_ffn,omitempty"`
	// KeepVocab, when set (vocabulary pruning, see vocab.go), lists the kept
	// token ids, ascending: the rows of embed_tokens and lm_head the output
	// keeps, its token i being the source's KeepVocab[i].
	KeepVocab []int `json:"-"`
	vocabMap  *tokenizer.IDMap
	// Source and result architectures.
	From *model.Config `json:"-"`
	To   *model.Config `json:"-"`
}

// Counts of parameters, DESIGN §1: the ratio is over the decoder layers'
// attention and FFN weights and biases (norms, embeddings and lm_head not
// counted); totals count everything.
type Counts struct {
	Total    int64   `json:"total"`
	Decoder  int64   `json:"decoder_attn_ffn"`
	Embed    int64   `json:"embeddings_and_head"`
	PerLayer []int64 `json:"per_layer_attn_ffn"`
}

// unitParams is what one FFN neuron and one attention group of layer l own.
func unitParams(c *model.Config, l int) (neuron, group int64) {
	H, hd := int64(c.Hidden), int64(c.HeadDim)
	grp := int64(c.Group())
	neuron = 2 * H
	if c.Gated {
		neuron += H
	}
	if c.MLPBias {
		neuron++
	}
	group = (2*grp + 2) * hd * H
	if c.QKVBias {
		group += (grp + 2) * hd
	}
	return
}

// Count the parameters of a config.
func Count(c *model.Config) Counts {
	var k Counts
	H := int64(c.Hidden)
	for l := 0; l < c.Layers; l++ {
		pn, pg := unitParams(c, l)
		p := pn*int64(c.FFNAt(l)) + pg*int64(c.KVHeadsAt(l))
		if c.OBias {
			p += H
		}
		if c.MLPBias {
			p += H
		}
		k.PerLayer = append(k.PerLayer, p)
		k.Decoder += p
		// norms
		norms := H
		if !c.Parallel {
			norms += H
		}
		if c.LayerNorm {
			norms *= 2
		}
		if c.QKNorm {
			norms += 2 * int64(c.HeadDim)
		}
		k.Total += p + norms
	}
	k.Embed = int64(c.Vocab) * H
	if !c.Tied {
		k.Embed *= 2
	}
	if c.HeadBias {
		k.Embed += int64(c.Vocab)
	}
	fin := H
	if c.LayerNorm {
		fin *= 2
	}
	k.Total += k.Embed + fin
	return k
}

type unit struct {
	layer, idx int
	attn       bool
	score, tie float64
	cost       int64
}

func less(a, b unit) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	if a.tie != b.tie {
		return a.tie < b.tie
	}
	if a.layer != b.layer {
		return a.layer < b.layer
	}
	if a.attn != b.attn {
		return a.attn
	}
	return a.idx < b.idx
}

// Select decides what to remove for a ratio of the decoder's attention and
// FFN parameters. Uniform removes the same number of neurons and groups in
// every layer (ratio of groups rounded, the rest taken from FFN so the
// budget is met within one neuron per layer); adaptive removes the globally
// lowest-scored units. No layer loses all its FFN neurons or all its groups.
//
// With ffnOnly, attention groups are kept whole (for outputs whose loader
// cannot hold fewer heads, such as llama.cpp's phi2).
func Select(c *model.Config, sc UnitScores, method string, ratio float64, placement string, ffnOnly bool) (*Plan, error) {
	if !(ratio >= 0 && ratio < 1) {
		return nil, fmt.Errorf("prune ratio %g must be at least 0 and below 1", ratio)
	}
	budget := budgetOf(c, ratio)
	removeF := make([]int, c.Layers)
	removeG := make([]int, c.Layers)
	switch placement {
	case "uniform":
		if c.LayerFFN != nil || c.LayerKVHeads != nil {
			return nil, fmt.Errorf("uniform placement needs equal layers; this model's widths differ per layer")
		}
		g, k, err := uniformSplit(c, sc, budget, ffnOnly)
		if err != nil {
			return nil, fmt.Errorf("ratio %g: %w", ratio, err)
		}
		for l := range removeF {
			removeF[l], removeG[l] = k, g
		}
	case "adaptive":
		if !sc.Comparable {
			return nil, fmt.Errorf("%s scores are not comparable across layers; use --placement uniform", method)
		}
		var units []unit
		for l := 0; l < c.Layers; l++ {
			pn, pg := unitParams(c, l)
			for k, s := range sc.FFN[l] {
				units = append(units, unit{l, k, false, s, sc.FFNTie[l][k], pn})
			}
			for u, s := range sc.Attn[l] {
				if !ffnOnly {
					units = append(units, unit{l, u, true, s, sc.AttnTie[l][u], pg})
				}
			}
		}
		sort.Slice(units, func(i, j int) bool { return less(units[i], units[j]) })
		var removed int64
		for _, u := range units {
			if removed+u.cost > budget {
				continue
			}
			if u.attn {
				if removeG[u.layer]+1 >= c.KVHeadsAt(u.layer) {
					continue
				}
				removeG[u.layer]++
			} else {
				if removeF[u.layer]+1 >= c.FFNAt(u.layer) {
					continue
				}
				removeF[u.layer]++
			}
			removed += u.cost
		}
	default:
		return nil, fmt.Errorf("unknown placement %q (uniform or adaptive)", placement)
	}
	p := &Plan{Method: method, Ratio: ratio, Placement: placement, From: c,
		KeepFFN: make([][]int, c.Layers), KeepGroups: make([][]int, c.Layers)}
	for l := 0; l < c.Layers; l++ {
		p.KeepFFN[l] = keepHighest(sc.FFN[l], sc.FFNTie[l], removeF[l], l, false)
		p.KeepGroups[l] = keepHighest(sc.Attn[l], sc.AttnTie[l], removeG[l], l, true)
	}
	p.To = p.config()
	return p, nil
}

// budgetOf is the decoder parameters a ratio removes.
func budgetOf(c *model.Config, ratio float64) int64 {
	return int64(math.Round(ratio * float64(Count(c).Decoder)))
}

// CheckUniform says, before any scoring, whether uniform placement can
// meet ratio on c: Select's own arithmetic without the scores, so a ratio
// too high for the model fails before the scoring pass rather than after
// it (or, with several ratios, after the experts before it are written).
// Models whose layers differ are left to Select, which refuses them.
func CheckUniform(c *model.Config, ratio float64, ffnOnly bool) error {
	if c.LayerFFN != nil || c.LayerKVHeads != nil || c.Layers == 0 || Count(c).Decoder == 0 {
		return nil
	}
	if _, _, err := uniformSplit(c, UnitScores{}, budgetOf(c, ratio), ffnOnly); err != nil {
		return fmt.Errorf("ratio %g: %w", ratio, err)
	}
	return nil
}

// uniformSplit chooses how many groups (g) and neurons (k) every layer
// loses so the removed parameters meet the budget within one neuron per
// layer. Among the feasible g it takes the one whose cheapest units cost
// least in total, a unit's cost being the square of its deactivation
// importance (the norm of the output change it causes, summed over the
// calibration documents): for changes in unrelated directions squared norms
// add up. So attention is pruned only where it matters less than the FFN
// width it would spare.
func uniformSplit(c *model.Config, sc UnitScores, budget int64, ffnOnly bool) (g, k int, err error) {
	pn, pg := unitParams(c, 0)
	L := int64(c.Layers)
	lowest := func(v []float64, n int) float64 {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		t := 0.0
		for _, x := range s[:n] {
			t += x * x
		}
		return t
	}
	best, bestCost := -1, math.Inf(1)
	maxG := c.KVHeads - 1
	if ffnOnly {
		maxG = 0
	}
	for gg := 0; gg <= maxG; gg++ {
		rest := budget - L*int64(gg)*pg
		if rest < 0 {
			break
		}
		kk := int(math.Round(float64(rest) / float64(L*pn)))
		if kk > c.FFN-1 {
			continue
		}
		cost := 0.0
		if sc.FFNImp != nil {
			for l := 0; l < c.Layers; l++ {
				cost += lowest(sc.AttnImp[l], gg) + lowest(sc.FFNImp[l], kk)
			}
		}
		if cost < bestCost {
			best, bestCost, k = gg, cost, kk
		}
	}
	if best < 0 {
		most := float64(L*(int64(c.FFN-1)*pn+int64(maxG)*pg)) / float64(Count(c).Decoder)
		if ffnOnly {
			return 0, 0, fmt.Errorf("cannot be met: this output keeps every attention group, and FFN neurons alone, one kept per layer, give at most %.3f", most)
		}
		return 0, 0, fmt.Errorf("cannot be met while every layer keeps an FFN neuron and an attention group (at most %.3f)", most)
	}
	return best, k, nil
}

// keepHighest drops the n lowest-scored units and returns the rest, ascending.
func keepHighest(score, tie []float64, n, layer int, attn bool) []int {
	us := make([]unit, len(score))
	for i := range us {
		us[i] = unit{layer: layer, idx: i, attn: attn, score: score[i], tie: tie[i]}
	}
	sort.Slice(us, func(i, j int) bool { return less(us[i], us[j]) })
	keep := make([]int, 0, len(score)-n)
	for _, u := range us[n:] {
		keep = append(keep, u.idx)
	}
	sort.Ints(keep)
	return keep
}

// config is the architecture after pruning.
func (p *Plan) config() *model.Config {
	c := *p.From
	c.LayerFFN, c.LayerKVHeads = nil, nil
	uniform := true
	for l := range p.KeepFFN {
		uniform = uniform && len(p.KeepFFN[l]) == len(p.KeepFFN[0]) && len(p.KeepGroups[l]) == len(p.KeepGroups[0])
	}
	if uniform {
		c.FFN, c.KVHeads = len(p.KeepFFN[0]), len(p.KeepGroups[0])
		c.Heads = c.KVHeads * p.From.Group()
		return &c
	}
	c.LayerFFN = make([]int, c.Layers)
	c.LayerKVHeads = make([]int, c.Layers)
	c.FFN, c.KVHeads = 0, 0
	for l := range p.KeepFFN {
		c.LayerFFN[l], c.LayerKVHeads[l] = len(p.KeepFFN[l]), len(p.KeepGroups[l])
		c.FFN, c.KVHeads = max(c.FFN, c.LayerFFN[l]), max(c.KVHeads, c.LayerKVHeads[l])
	}
	c.Heads = c.KVHeads * p.From.Group()
	return &c
}

// Pruned is, per layer, how many neurons and groups were removed.
func (p *Plan) Pruned() (ffn, groups []int) {
	for l := range p.KeepFFN {
		ffn = append(ffn, p.From.FFNAt(l)-len(p.KeepFFN[l]))
		groups = append(groups, p.From.KVHeadsAt(l)-len(p.KeepGroups[l]))
	}
	return
}

// PlanFor is the plan that keeps these units of a model of config c, as
// another engine's Plan lists them (its KeepFFN and KeepGroups: the page
// hands the main worker's plan to the workers that share its refit),
// checked against c: one ascending list per layer, within the layer's
// widths, at least one unit kept. poolFFN is its PoolFFN (nil: none),
// each layer's pool checked to hold the neurons it removes.
func PlanFor(c *model.Config, keepFFN, keepGroups, poolFFN [][]int) (*Plan, error) {
	if len(keepFFN) != c.Layers || len(keepGroups) != c.Layers {
		return nil, fmt.Errorf("the plan has %d and %d layers of kept units, the model %d", len(keepFFN), len(keepGroups), c.Layers)
	}
	for l := 0; l < c.Layers; l++ {
		for _, u := range []struct {
			what string
			keep []int
			n    int
		}{{"FFN neurons", keepFFN[l], c.FFNAt(l)}, {"attention groups", keepGroups[l], c.KVHeadsAt(l)}} {
			if len(u.keep) == 0 {
				return nil, fmt.Errorf("the plan keeps no %s in layer %d", u.what, l)
			}
			for i, k := range u.keep {
				if k < 0 || k >= u.n || (i > 0 && k <= u.keep[i-1]) {
					return nil, fmt.Errorf("the plan's kept %s of layer %d are not ascending indices below %d", u.what, l, u.n)
				}
			}
		}
	}
	if poolFFN != nil && len(poolFFN) != c.Layers {
		return nil, fmt.Errorf("the plan has pools for %d layers, the model %d", len(poolFFN), c.Layers)
	}
	for l, pool := range poolFFN {
		if pool == nil {
			continue
		}
		if err := checkPool(pool, keepFFN[l], c.FFNAt(l)); err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
	}
	// Copies of the lists of lists: a refit that rechooses a layer's kept
	// neurons replaces that layer's list in its own plan only.
	p := &Plan{KeepFFN: slices.Clone(keepFFN), KeepGroups: slices.Clone(keepGroups), PoolFFN: slices.Clone(poolFFN), From: c}
	p.To = p.config()
	return p, nil
}

// pool is layer l's reselection pool (PoolFFN), nil when it has none.
func (p *Plan) pool(l int) []int {
	if p.PoolFFN == nil {
		return nil
	}
	return p.PoolFFN[l]
}
