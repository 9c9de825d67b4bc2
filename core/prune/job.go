package prune

import (
	"context"
	"fmt"
	"math"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Progress hears about long work: a phase name and how far it is.
type Progress func(phase string, done, total int)

// Tokenize turns documents into the sequences the engine scores: BOS and
// the document's tokens, cut to maxTokens (DESIGN §4). Documents shorter
// than two tokens are dropped.
func Tokenize(tok *tokenizer.Tokenizer, docs []corpus.Doc, maxTokens int) [][]int {
	out := make([][]int, 0, len(docs))
	for _, d := range docs {
		ids := tok.Encode(d.Text, tokenizer.EncodeOptions{})
		if b := tok.BOS(); b >= 0 {
			ids = append([]int{b}, ids...)
		}
		if len(ids) > maxTokens {
			ids = ids[:maxTokens]
		}
		if len(ids) >= 2 {
			out = append(out, ids)
		}
	}
	return out
}

// Batches groups sequences so one batch holds about maxTok tokens, which
// bounds the memory of hidden states whatever the corpus size.
func Batches(docs [][]int, maxTok int) [][][]int {
	var out [][][]int
	var cur [][]int
	n := 0
	for _, d := range docs {
		if n+len(d) > maxTok && len(cur) > 0 {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, d)
		n += len(d)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// BatchTokens is the most tokens that go through the layers together.
const BatchTokens = 8192

// batchBudget bounds the bytes of activations one batch may hold.
const batchBudget = 384 << 20

// BatchTokensFor is how many tokens a batch of this model may hold so its
// float32 activations (hidden state, normed copy, q/k/v, attention output,
// gate/up/activation, and the layer output) stay within a fixed budget,
// whatever the model's size.
func BatchTokensFor(c *model.Config) int {
	H, F := c.Hidden, c.FFN
	nq, nkv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	per := 4 * (4*H + 2*nq + 2*nkv + 3*F)
	return max(256, min(BatchTokens, batchBudget/per))
}

// Score runs the calibration sequences through the model once, gathering
// every method's statistics in the same pass. Cancelling ctx stops it
// between layers.
func Score(ctx context.Context, m *model.Model, be model.Backend, seqs [][]int, progress Progress) (*Scorer, error) {
	sc := NewScorer(m.Config)
	hook := sc.Hook()
	bs := Batches(seqs, BatchTokensFor(m.Config))
	total := len(bs) * m.Config.Layers
	for i, b := range bs {
		s, err := m.Run(be, model.Pack(b), func(L *model.Layer, st *model.Stats) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return hook(L, st)
		}, func(l, n int) {
			if progress != nil {
				progress("score", i*n+l, total)
			}
		})
		if err != nil {
			return nil, err
		}
		be.Free(s)
	}
	return sc, nil
}

// Perplexity is mean token NLL and its exponent over sequences scored alone.
type Perplexity struct {
	PPL    float64 `json:"ppl"`
	NLL    float64 `json:"nll"`
	Tokens int     `json:"tokens"`
	Docs   int     `json:"docs"`
}

// Evaluate computes the perplexity of a model on sequences.
func Evaluate(ctx context.Context, m *model.Model, be model.Backend, seqs [][]int, progress Progress) (Perplexity, error) {
	var sum float64
	var n int
	bs := Batches(seqs, BatchTokensFor(m.Config))
	for i, b := range bs {
		if err := ctx.Err(); err != nil {
			return Perplexity{}, err
		}
		s, c, err := m.NLL(be, b, nil)
		if err != nil {
			return Perplexity{}, err
		}
		for d := range s {
			sum += s[d]
			n += c[d]
		}
		if progress != nil {
			progress("evaluate", i+1, len(bs))
		}
	}
	if n == 0 {
		return Perplexity{}, fmt.Errorf("no tokens to score: every document is shorter than two tokens")
	}
	nll := sum / float64(n)
	return Perplexity{PPL: math.Exp(nll), NLL: nll, Tokens: n, Docs: len(seqs)}, nil
}
