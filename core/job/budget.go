package job

import (
	"math"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Why a budget: evaluation measures two models (the dense one and the
// expert) and computes the full-vocabulary head at every position, which
// scoring never does; on a small model with a large vocabulary the head
// alone costs several times the decoder layers (tiny-multi: 32000 x 256
// against 4 layers of 786k multiply-adds per token). Measuring as many
// held-out tokens as calibration used therefore costs 2 x (1 + head/layers)
// times the scoring, whatever the engine. EvalSize sizes the held-out text
// so that the evaluation's multiply-adds do not exceed scoring's.

// LayerMACs is the decoder's multiply-adds per token (projections and FFN;
// attention's own products are left out: they grow with document length,
// and evaluation documents are never longer than calibration ones).
func LayerMACs(c *model.Config) int64 {
	var n int64
	for l := 0; l < c.Layers; l++ {
		nq, nkv := int64(c.HeadsAt(l)*c.HeadDim), int64(c.KVHeadsAt(l)*c.HeadDim)
		H, F := int64(c.Hidden), int64(c.FFNAt(l))
		mats := int64(2)
		if c.Gated {
			mats = 3
		}
		n += H*(nq+2*nkv) + nq*H + mats*H*F
	}
	return n
}

// HeadMACs is the output head's multiply-adds per token.
func HeadMACs(c *model.Config) int64 { return int64(c.Vocab) * int64(c.Hidden) }

// lseMACs is what the log-sum-exp over the vocabulary costs per logit (an
// exp and an add), counted in multiply-adds.
const lseMACs = 32

// evalShare is the share of scoring's multiply-adds an evaluation aims at:
// the headroom covers what multiply-adds do not count (the head read again
// for every batch, tokenizing, a second model's reads).
const evalShare = 0.8

// EvalBudget is how many held-out tokens per model an evaluation of the
// dense model and the expert may read so that it costs no more than
// scoring calibTokens did: 2 x tokens x (layers + head + log-sum-exp) <=
// evalShare x calibTokens x layers.
func EvalBudget(c *model.Config, calibTokens int) int {
	L, H := LayerMACs(c), HeadMACs(c)+int64(c.Vocab)*lseMACs
	if L+H == 0 {
		return 0
	}
	return int(evalShare * float64(calibTokens) * float64(L) / float64(2*(L+H)))
}

// EvalSize is the held-out documents per slice and tokens per document
// that fit EvalBudget over slices slices, documents no longer than
// maxTokens: documents of a quarter of the budget (at least 32 tokens),
// as many as fit, at least one per slice.
func EvalSize(c *model.Config, calibTokens, maxTokens, slices int) (docs, tokens int) {
	b := EvalBudget(c, calibTokens)
	slices = max(slices, 1)
	tokens = min(maxTokens, max(32, b/4))
	docs = max(1, b/slices/max(tokens, 1))
	return docs, tokens
}

// RefitMACs is the refit's multiply-adds for a plan on tokens calibration
// tokens (prune.LayerRefitMACs summed over the layers): the forward pass,
// the Gram sums, the solves. With plan nil it is estimated before
// selection for a ratio, as if every layer lost that share of its FFN
// neurons and query heads, and reselect is the pool the refit will choose
// among (Options.Reselect; 1 or less: none).
func RefitMACs(c *model.Config, plan *prune.Plan, ratio float64, tokens int, reselect float64) [3]int64 {
	var out [3]int64
	for l := 0; l < c.Layers; l++ {
		var kf, kq int
		if plan != nil {
			kf = len(plan.KeepFFN[l])
			kq = len(plan.KeepGroups[l]) * c.Group() * c.HeadDim
		} else {
			kf = int(math.Round(float64(c.FFNAt(l)) * (1 - ratio)))
			kq = int(math.Round(float64(c.HeadsAt(l))*(1-ratio))) * c.HeadDim
		}
		pool := 0
		if plan != nil && plan.PoolFFN != nil {
			pool = len(plan.PoolFFN[l])
		} else if plan == nil && reselect > 1 {
			pool = min(c.FFNAt(l), int(math.Ceil(reselect*float64(c.FFNAt(l)-kf))))
		}
		f, g, s := prune.LayerRefitMACs(c, l, kf, kq, pool)
		out[0] += int64(tokens) * f
		out[1] += int64(tokens) * g
		out[2] += s
	}
	return out
}

// CalibrationTokens is how many tokens the job's calibration text comes to
// (the documents Score runs), for estimates before the job starts.
func CalibrationTokens(tok *tokenizer.Tokenizer, c *model.Config, o Options) (int, error) {
	o.Defaults()
	_, seqs, err := o.calibration(tok, c)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range seqs {
		n += len(q)
	}
	return n, nil
}
