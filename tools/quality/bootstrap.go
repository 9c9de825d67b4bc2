package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
)

// docLoss is a model's summed token NLL and predicted-token count per
// held-out document, in the order prune.Evaluate adds them (so the
// perplexity from it is Evaluate's to the bit).
type docLoss struct {
	sum []float64
	n   []int
}

func evaluateDocs(ctx context.Context, m *model.Model, be model.Backend, seqs [][]int) (docLoss, prune.Perplexity, error) {
	var dl docLoss
	for _, b := range prune.Batches(seqs, prune.BatchTokensFor(m.Config)) {
		if err := ctx.Err(); err != nil {
			return dl, prune.Perplexity{}, err
		}
		s, c, err := m.NLL(be, b, nil)
		if err != nil {
			return dl, prune.Perplexity{}, err
		}
		dl.sum = append(dl.sum, s...)
		dl.n = append(dl.n, c...)
	}
	p, err := dl.perplexity(nil)
	return dl, p, err
}

// perplexity over the documents idx (all when nil; repeats count again).
func (d docLoss) perplexity(idx []int) (prune.Perplexity, error) {
	var sum float64
	var n int
	if idx == nil {
		for i := range d.sum {
			sum += d.sum[i]
			n += d.n[i]
		}
	} else {
		for _, i := range idx {
			sum += d.sum[i]
			n += d.n[i]
		}
	}
	if n == 0 {
		return prune.Perplexity{}, fmt.Errorf("no tokens to score: every document is shorter than two tokens")
	}
	nll := sum / float64(n)
	return prune.Perplexity{PPL: math.Exp(nll), NLL: nll, Tokens: n, Docs: len(d.sum)}, nil
}

// pairedBootstrap resamples the held-out documents with replacement (the
// same documents for the dense model and both experts) and returns the
// observed expert-retention difference a − b, its 2.5% and 97.5%
// quantiles over the resamples and the share of resamples in which a keeps
// more than b. It says whether a lead the size of the table's margins is
// more than the choice of documents.
func pairedBootstrap(dense, a, b docLoss, rounds int, seed uint64) (diff, lo, hi, ahead float64) {
	ret := func(m docLoss, idx []int) float64 {
		pd, _ := dense.perplexity(idx)
		pm, _ := m.perplexity(idx)
		return pd.PPL / pm.PPL
	}
	diff = ret(a, nil) - ret(b, nil)
	rng := rand.New(rand.NewPCG(seed, seed))
	idx := make([]int, len(dense.sum))
	ds := make([]float64, rounds)
	wins := 0
	for r := range ds {
		for i := range idx {
			idx[i] = rng.IntN(len(idx))
		}
		ds[r] = ret(a, idx) - ret(b, idx)
		if ds[r] > 0 {
			wins++
		}
	}
	sort.Float64s(ds)
	return diff, ds[rounds*25/1000], ds[rounds*975/1000], float64(wins) / float64(rounds)
}
