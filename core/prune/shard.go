package prune

import (
	"fmt"
	"slices"
)

// Shard is part i of n of the sequences, for scoring (or evaluating) them in
// n separate engines: contiguous runs of documents in their order, split so
// each part holds about the same number of tokens. Every document goes to
// exactly one part; a part may be empty when there are fewer documents
// than parts. Every per-document statistic is the same in whichever part
// it is measured, so merging the parts' Scorers (Merge) gives what one
// engine scoring everything gives, up to the order of float64 additions
// (the Gram matrices too: their float32 blocks are each document's own).
func Shard(seqs [][]int, i, n int) [][]int {
	if n <= 1 {
		return seqs
	}
	total := 0
	for _, q := range seqs {
		total += len(q)
	}
	// A document belongs to the part its middle token falls in, so a
	// long document on a boundary goes where most of it lies.
	var out [][]int
	at := 0
	for _, q := range seqs {
		if p := (at + len(q)/2) * n / max(total, 1); p == i {
			out = append(out, q)
		}
		at += len(q)
	}
	return out
}

// Merge adds what another scorer of the same model saw (other documents)
// into s: percentile ranks by their maximum, importances and input
// statistics by their sums. The weight-only quantities must agree, which
// they do when both scored the same model.
func (s *Scorer) Merge(o *Scorer) error {
	if len(o.layers) != len(s.layers) {
		return fmt.Errorf("merging scores: %d layers against %d", len(o.layers), len(s.layers))
	}
	for l, b := range o.layers {
		if b == nil {
			continue // that scorer saw no documents
		}
		a := s.layers[l]
		if a == nil {
			s.layers[l] = b.clone()
			continue
		}
		if len(a.ffnRank) != len(b.ffnRank) || len(a.attnRank) != len(b.attnRank) || len(a.oSum) != len(b.oSum) {
			return fmt.Errorf("merging scores: layer %d has other widths (%d/%d neurons, %d/%d groups)",
				l, len(a.ffnRank), len(b.ffnRank), len(a.attnRank), len(b.attnRank))
		}
		if !slices.Equal(a.downCol2, b.downCol2) || !slices.Equal(a.attnMag, b.attnMag) {
			return fmt.Errorf("merging scores: layer %d was scored on other weights", l)
		}
		maxInto(a.ffnRank, b.ffnRank)
		maxInto(a.attnRank, b.attnRank)
		for _, p := range [][2][]float64{{a.ffnImp, b.ffnImp}, {a.attnImp, b.attnImp},
			{a.ffnSum, b.ffnSum}, {a.ffnSq, b.ffnSq}, {a.oSum, b.oSum}, {a.oSq, b.oSq}} {
			addInto(p[0], p[1])
		}
		a.tokens += b.tokens
	}
	s.docs += o.docs
	if o.ranks != nil {
		if s.ranks == nil {
			s.ranks = make([][][]float32, len(s.layers))
		}
		for l := range o.ranks {
			s.ranks[l] = append(s.ranks[l], o.ranks[l]...)
		}
	}
	return nil
}

// Tokens is the number of calibration tokens scored so far.
func (s *Scorer) Tokens() int {
	if len(s.layers) == 0 || s.layers[0] == nil {
		return 0
	}
	return s.layers[0].tokens
}

func (ls *layerScores) clone() *layerScores {
	c := *ls
	for _, p := range []*[]float64{&c.ffnRank, &c.attnRank, &c.ffnImp, &c.attnImp, &c.ffnSum, &c.ffnSq,
		&c.oSum, &c.oSq, &c.downCol2, &c.downColAbs, &c.ffnMag, &c.attnMag, &c.oCol2, &c.oColAbs} {
		*p = slices.Clone(*p)
	}
	return &c
}

func maxInto(dst, src []float64) {
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}

func addInto(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}
