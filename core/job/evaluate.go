package job

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Cap keeps at most n documents (all when n <= 0), taken in turn from each
// language-and-domain group, so every group gets as many as every other
// (give or take one). The groups take their turns with the languages
// interleaved (each language's first domain, then each one's second, ...),
// so a cap smaller than the number of groups still covers as many
// languages as it has room for; in the order the groups first appear,
// the first languages got all their domains before the last ones got any.
// It is the one capping rule for calibration and held-out slices alike.
func Cap(docs []corpus.Doc, n int) []corpus.Doc {
	if n <= 0 || len(docs) <= n {
		return docs
	}
	type group struct {
		lang, rank int // the language's first appearance; the group's among its language's
		docs       []corpus.Doc
	}
	var groups []*group
	byKey := map[string]*group{}
	langAt := map[string]int{}
	perLang := map[string]int{}
	for _, d := range docs {
		l := d.Tag("language")
		k := l + "\x00" + d.Tag("domain")
		g, ok := byKey[k]
		if !ok {
			if _, seen := langAt[l]; !seen {
				langAt[l] = len(langAt)
			}
			g = &group{lang: langAt[l], rank: perLang[l]}
			perLang[l]++
			byKey[k] = g
			groups = append(groups, g)
		}
		g.docs = append(g.docs, d)
	}
	sort.SliceStable(groups, func(a, b int) bool {
		if groups[a].rank != groups[b].rank {
			return groups[a].rank < groups[b].rank
		}
		return groups[a].lang < groups[b].lang
	})
	out := make([]corpus.Doc, 0, n)
	for i := 0; len(out) < n; i++ {
		for _, g := range groups {
			if i < len(g.docs) && len(out) < n {
				out = append(out, g.docs[i])
			}
		}
	}
	return out
}

// Slice is a named set of held-out documents.
type Slice struct {
	Name string
	Docs []corpus.Doc
}

// HeldOut is the built-in held-out text as evaluation uses it: the expert
// slice of the target (documents matching every chosen dimension, or any of
// them when fewer than four match all) and the general mix of every
// language and domain, each capped to maxDocs by Cap.
func HeldOut(t corpus.Target, maxDocs int) ([]Slice, error) {
	held, err := corpus.Builtin("heldout")
	if err != nil {
		return nil, err
	}
	return []Slice{
		{"expert", Cap(t.Slice(held, 4), maxDocs)},
		{"general", Cap(held, maxDocs)},
	}, nil
}

// HeldOut is the job's evaluation text: the expert's own held-out
// documents (EvalData) as the expert slice when given, else the built-in
// one, and the built-in general mix. note is not empty when the built-in
// held-out text has no document with a value the target chose: the expert
// slice then holds only the other values' documents, or is empty and the
// expert's retention is not measured, and note says which.
func (o *Options) HeldOut() (slices []Slice, note string, err error) {
	if slices, err = HeldOut(o.Target(), o.EvalDocs); err != nil {
		return nil, "", err
	}
	if o.EvalData != nil {
		slices[0].Docs = Cap(o.EvalData, o.EvalDocs)
		return slices, "", nil
	}
	held, err := corpus.Builtin("heldout")
	if err != nil {
		return nil, "", err
	}
	if m := o.Target().Missing(held); len(m) > 0 {
		what := "the expert slice holds the documents of the rest of the target"
		if len(slices[0].Docs) == 0 {
			what = "the expert's retention is not measured"
		}
		note = fmt.Sprintf("the built-in held-out text has no document with %s: %s; give your own held-out documents to measure it (prune --eval-data FILE)", m[0], what)
	}
	return slices, note, nil
}

// Side is one model of a comparison with the tokenizer that reads for it.
type Side struct {
	Model *model.Model
	Tok   *tokenizer.Tokenizer
	// Known, when set, is this side's perplexity on the same slices and
	// length, measured already (the dense model, for an earlier expert of
	// the same run): it is used instead of measuring again.
	Known map[string]prune.Perplexity
}

// EvaluateSlices measures one model's perplexity on each slice, documents
// cut to maxTokens (and the model's context). Progress counts batches over
// every slice; offset and total place them inside a larger evaluation.
func EvaluateSlices(ctx context.Context, be model.Backend, s Side, slices []Slice, maxTokens int, progress prune.Progress) (map[string]prune.Perplexity, error) {
	runs := plan(s, slices, maxTokens)
	return runEvaluation(ctx, be, runs, 0, count(s, runs), progress)
}

// EvaluateBeforeAfter measures the dense model and the expert on the same
// slices (each through its own tokenizer: a pruned vocabulary renumbers the
// same tokens) and gives retention = ppl before / ppl after. The CLI's
// prune and eval verbs and the page all evaluate through it.
func EvaluateBeforeAfter(ctx context.Context, be model.Backend, before, after Side, slices []Slice, maxTokens int, progress prune.Progress) (map[string]Eval, error) {
	rb, ra := plan(before, slices, maxTokens), plan(after, slices, maxTokens)
	pb := before.Known
	if pb != nil {
		rb = nil
	}
	nb, na := count(before, rb), count(after, ra)
	if pb == nil {
		var err error
		if pb, err = runEvaluation(ctx, be, rb, 0, nb+na, progress); err != nil {
			return nil, err
		}
	}
	pa, err := runEvaluation(ctx, be, ra, nb, nb+na, progress)
	if err != nil {
		return nil, err
	}
	out := map[string]Eval{}
	for name, b := range pb {
		if _, ok := pa[name]; !ok {
			continue
		}
		a := pa[name]
		out[name] = Eval{PPLBefore: b.PPL, PPLAfter: a.PPL, Retention: b.PPL / a.PPL, Docs: b.Docs, Tokens: b.Tokens}
	}
	return out, nil
}

// evalRun is one slice tokenized for one model.
type evalRun struct {
	name string
	m    *model.Model
	seqs [][]int
}

func plan(s Side, slices []Slice, maxTokens int) []evalRun {
	var runs []evalRun
	for _, sl := range slices {
		seqs := prune.Tokenize(s.Tok, sl.Docs, min(maxTokens, s.Model.Config.Context()))
		if len(seqs) > 0 {
			runs = append(runs, evalRun{sl.Name, s.Model, seqs})
		}
	}
	return runs
}

// count is how many batches the runs take: evaluation's unit of progress.
func count(s Side, runs []evalRun) int {
	var seqs [][]int
	for _, r := range runs {
		seqs = append(seqs, r.seqs...)
	}
	return len(prune.Batches(seqs, prune.BatchTokensFor(s.Model.Config)))
}

// runEvaluation measures one model (the runs are its slices) in one pass
// over its layers: every slice's documents go through together, so the
// weights and the vocabulary head are read once per batch, not once per
// slice. A document's NLL does not depend on the documents batched with
// it, and each slice's sums are taken in its documents' order, so the
// figures are those of measuring each slice alone.
func runEvaluation(ctx context.Context, be model.Backend, runs []evalRun, offset, total int, progress prune.Progress) (map[string]prune.Perplexity, error) {
	out := map[string]prune.Perplexity{}
	if len(runs) == 0 {
		return out, nil
	}
	m := runs[0].m
	var seqs [][]int
	var slice []int // the run each sequence belongs to
	for k, r := range runs {
		seqs = append(seqs, r.seqs...)
		for range r.seqs {
			slice = append(slice, k)
		}
	}
	sum := make([]float64, len(runs))
	tokens := make([]int, len(runs))
	at := 0
	for i, b := range prune.Batches(seqs, prune.BatchTokensFor(m.Config)) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, c, err := m.NLL(be, b, nil)
		if err != nil {
			return nil, err
		}
		for d := range s {
			k := slice[at+d]
			sum[k] += s[d]
			tokens[k] += c[d]
		}
		at += len(b)
		if progress != nil {
			progress("evaluate", offset+i+1, total)
		}
	}
	for k, r := range runs {
		if tokens[k] == 0 {
			return nil, fmt.Errorf("%s slice: no tokens to score: every document is shorter than two tokens", r.name)
		}
		nll := sum[k] / float64(tokens[k])
		out[r.name] = prune.Perplexity{PPL: math.Exp(nll), NLL: nll, Tokens: tokens[k], Docs: len(r.seqs)}
	}
	return out, nil
}

// Measured is one part of an evaluation: the dense model's and the
// expert's perplexity on each held-out slice, over that part's documents.
type Measured struct {
	Before map[string]prune.Perplexity `json:"before"`
	After  map[string]prune.Perplexity `json:"after"`
}

// EvaluateShard measures part i of n of EvaluateBeforeAfter: every slice's
// documents split by prune.Shard, for n engines side by side (the page's
// CPU workers). MergeEvaluations of the n parts gives what one engine
// measures, up to the order of float64 additions.
func EvaluateShard(ctx context.Context, be model.Backend, before, after Side, slices []Slice, maxTokens, i, n int, progress prune.Progress) (Measured, error) {
	if n < 1 || i < 0 || i >= n {
		return Measured{}, fmt.Errorf("part %d of %d: no such part", i, n)
	}
	part := func(runs []evalRun) []evalRun {
		var out []evalRun
		for _, r := range runs {
			if r.seqs = prune.Shard(r.seqs, i, n); len(r.seqs) > 0 {
				out = append(out, r)
			}
		}
		return out
	}
	rb, ra := part(plan(before, slices, maxTokens)), part(plan(after, slices, maxTokens))
	nb, na := count(before, rb), count(after, ra)
	pb, err := runEvaluation(ctx, be, rb, 0, nb+na, progress)
	if err != nil {
		return Measured{}, err
	}
	pa, err := runEvaluation(ctx, be, ra, nb, nb+na, progress)
	if err != nil {
		return Measured{}, err
	}
	return Measured{Before: pb, After: pa}, nil
}

// MergeEvaluations joins the parts of an evaluation (EvaluateShard) into
// retention per slice: token-weighted mean NLL over every part's documents.
func MergeEvaluations(parts []Measured) (map[string]Eval, error) {
	join := func(side func(Measured) map[string]prune.Perplexity) map[string]prune.Perplexity {
		sum := map[string]prune.Perplexity{}
		for _, p := range parts {
			for name, x := range side(p) {
				s := sum[name]
				s.NLL += x.NLL * float64(x.Tokens) // summed NLL until divided below
				s.Tokens += x.Tokens
				s.Docs += x.Docs
				sum[name] = s
			}
		}
		for name, s := range sum {
			if s.Tokens > 0 {
				s.NLL /= float64(s.Tokens)
				s.PPL = math.Exp(s.NLL)
				sum[name] = s
			}
		}
		return sum
	}
	pb := join(func(m Measured) map[string]prune.Perplexity { return m.Before })
	pa := join(func(m Measured) map[string]prune.Perplexity { return m.After })
	out := map[string]Eval{}
	for name, b := range pb {
		a, ok := pa[name]
		if !ok || b.Tokens == 0 || a.Tokens == 0 {
			continue
		}
		out[name] = Eval{PPLBefore: b.PPL, PPLAfter: a.PPL, Retention: b.PPL / a.PPL, Docs: b.Docs, Tokens: b.Tokens}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the evaluation's parts hold no measured slice")
	}
	return out, nil
}

// PrunedFrom checks that expert can be a pruning of dense, so that a
// retention of one against the other means something: the same family,
// hidden size, head size and layers, no layer wider than dense's, and no
// larger a vocabulary (a pruned vocabulary is smaller).
func PrunedFrom(dense, expert *model.Config) error {
	d, e := dense, expert
	switch {
	case d.Family != e.Family:
		return fmt.Errorf("the expert is a %s model and the base a %s one: give the model the expert was pruned from", e.Family, d.Family)
	case d.Hidden != e.Hidden || d.HeadDim != e.HeadDim || d.Layers != e.Layers:
		return fmt.Errorf("the expert has hidden size %d, head size %d and %d layers, the base %d, %d and %d: give the model the expert was pruned from",
			e.Hidden, e.HeadDim, e.Layers, d.Hidden, d.HeadDim, d.Layers)
	case e.Vocab > d.Vocab:
		return fmt.Errorf("the expert's vocabulary (%d) is larger than the base's (%d): give the model the expert was pruned from", e.Vocab, d.Vocab)
	}
	for l := 0; l < d.Layers; l++ {
		if e.FFNAt(l) > d.FFNAt(l) || e.KVHeadsAt(l) > d.KVHeadsAt(l) {
			return fmt.Errorf("the expert's layer %d (FFN %d, %d KV heads) is wider than the base's (FFN %d, %d KV heads): give the model the expert was pruned from",
				l, e.FFNAt(l), e.KVHeadsAt(l), d.FFNAt(l), d.KVHeadsAt(l))
		}
	}
	return nil
}
