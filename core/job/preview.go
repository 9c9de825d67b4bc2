package job

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Preview is what a job will do, known in seconds, before any scoring:
// the dry run of `cusprun prune --plan`.
type Preview struct {
	Ratio        float64  `json:"ratio"`
	Exact        bool     `json:"exact"` // the per-layer counts are final (scores were cached)
	Note         string   `json:"note,omitempty"`
	ParamsBefore int64    `json:"params_before"`
	ParamsAfter  int64    `json:"params_after"`
	BytesBefore  int64    `json:"bytes_before"`
	BytesAfter   int64    `json:"bytes_after"` // tensors only, at the output's dtype
	Pruned       PerLayer `json:"pruned"`
	Kept         Widths   `json:"kept"`
}

// Estimate is a whole dry run: the calibration, each expert's preview and
// how long the work should take on this machine.
type Estimate struct {
	Calibration map[string]int     `json:"calibration"` // docs, tokens
	Experts     []Preview          `json:"experts"`
	Seconds     map[string]float64 `json:"seconds_estimate"` // score, compensate, evaluate
	Cached      bool               `json:"scores_cached"`
}

// errTimed ends the timing pass after its first layer.
var errTimed = errors.New("timed")

// PlanOnly previews a run without scoring: options and model validated, the
// calibration text read and tokenized, parameters and bytes before and
// after for each ratio, and times estimated from one layer timed on this
// engine. With cached scores the per-layer counts are exact; otherwise
// scoring decides how the budget splits between FFN neurons and attention
// groups, and the preview assumes the budget is taken from FFN neurons.
func PlanOnly(ctx context.Context, folder source.Folder, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, o Options, ratios []float64) (*Estimate, error) {
	o.Defaults()
	for _, r := range ratios {
		p := o
		p.Ratio = r
		if err := p.Validate(m.Config); err != nil {
			return nil, err
		}
	}
	_, seqs, err := o.calibration(tok, m.Config)
	if err != nil {
		return nil, err
	}
	ntok := 0
	for _, s := range seqs {
		ntok += len(s)
	}
	est := &Estimate{Calibration: map[string]int{"docs": len(seqs), "tokens": ntok}, Seconds: map[string]float64{}}
	var scores *prune.UnitScores
	if o.CacheDir != "" {
		hashes, err := HashSources(folder)
		if err != nil {
			return nil, err
		}
		if sc := loadCached(o.CacheDir, cacheKey(hashes, be, seqs), m.Config); sc != nil {
			u := sc.Scores(o.Method, o.Seed)
			scores, est.Cached = &u, true
		}
	}
	if scores == nil {
		scores = flatScores(m.Config)
	}
	c := m.Config
	before := prune.Count(c)
	for _, r := range ratios {
		plan, err := prune.Select(c, *scores, o.Method, r, o.Placement, o.ffnOnly(c))
		if err != nil {
			return nil, err
		}
		aligned := ""
		if o.Format == "gguf" && prune.QuantizedOutput(o.Quant, m.DType) {
			asked := plan
			plan = prune.AlignFFN(plan, *scores, prune.QuantBlockRows) // as the job does
			aligned = alignedNote(asked, plan)
		}
		res := summary(c, plan, o)
		after, err := (&prune.Slicer{M: m, Plan: plan}).TensorBytes(o.Format, o.Quant)
		if err != nil {
			return nil, err
		}
		p := Preview{Ratio: r, Exact: est.Cached, ParamsBefore: res.ParamsBefore, ParamsAfter: res.ParamsAfter,
			BytesBefore: m.DType.ByteSize(before.Total), BytesAfter: after, Pruned: res.Pruned, Kept: res.Kept}
		if !est.Cached {
			p.Note = "counts assume the budget comes from FFN neurons; scoring decides the split with attention groups"
		}
		if aligned != "" {
			p.Note = strings.TrimPrefix(p.Note+"; "+aligned, "; ")
		}
		if o.Vocab == "target" {
			// The tokens the target needs are known only once its text is
			// tokenized against the plan (prune.VocabPlan, in the job).
			p.Note = strings.TrimPrefix(p.Note+"; ", "; ") + "these counts keep the whole vocabulary; vocab target also drops the tokens the target's text never uses, which the job finds"
		}
		est.Experts = append(est.Experts, p)
	}
	// Time one layer over the first calibration documents and scale by
	// parameters × tokens: every phase is dominated by matrix products.
	// The second layer is timed when there is one: the first also pays for
	// the embedding and the engine's start.
	probe := seqs[:1]
	t0 := time.Now()
	var perLayer float64
	_, err = m.Run(be, model.Pack(probe), func(L *model.Layer, st *model.Stats) error {
		perLayer = time.Since(t0).Seconds()
		t0 = time.Now()
		if L.Index == 1 || c.Layers == 1 {
			return errTimed
		}
		return nil
	}, nil)
	if err != nil && !errors.Is(err, errTimed) {
		return nil, err
	}
	layerParams := float64(before.Decoder) / float64(c.Layers)
	rate := layerParams * float64(len(probe[0])) / max(perLayer, 1e-6) // parameter-tokens per second
	est.Seconds["score"] = float64(before.Decoder) * float64(ntok) / rate
	if !o.NoEval {
		slices, _, err := o.HeldOut()
		if err != nil {
			return nil, err
		}
		evTok := 0
		for _, s := range slices {
			for _, q := range prune.Tokenize(tok, s.Docs, min(o.EvalTokens, c.Context())) {
				evTok += len(q)
			}
		}
		head := float64(c.Vocab * c.Hidden)
		for i, p := range est.Experts {
			dense := 0.0
			if i == 0 {
				dense = float64(before.Decoder) + head
			}
			est.Seconds["evaluate"] += (dense + float64(p.ParamsAfter-before.Total+before.Decoder) + head) * float64(evTok) / rate
		}
	}
	n := 0.0 // experts that remove something, so are refitted
	for _, r := range ratios {
		if r > 0 {
			n++
		}
	}
	if o.Compensate && n > 0 {
		// The one-pass route (score.go) costs about 0.6 of scoring to keep
		// the Gram matrices and 0.5 per expert to solve; a pass of its own
		// about 1.9 of scoring per expert (BENCHMARKS.md, "One pass").
		if !est.Cached && onePass(c, be) {
			est.Seconds["compensate"] = est.Seconds["score"] * (0.6 + 0.5*n)
		} else {
			est.Seconds["compensate"] = est.Seconds["score"] * 1.9 * n
		}
	}
	if est.Cached {
		est.Seconds["score"] = 0
	}
	return est, nil
}

// flatScores are equal scores for every unit: selection then takes the
// budget by count alone.
func flatScores(c *model.Config) *prune.UnitScores {
	u := &prune.UnitScores{Comparable: true}
	for l := 0; l < c.Layers; l++ {
		f, g := make([]float64, c.FFNAt(l)), make([]float64, c.KVHeadsAt(l))
		u.FFN, u.FFNTie, u.FFNImp = append(u.FFN, f), append(u.FFNTie, f), append(u.FFNImp, f)
		u.Attn, u.AttnTie, u.AttnImp = append(u.Attn, g), append(u.AttnTie, g), append(u.AttnImp, g)
	}
	return u
}
