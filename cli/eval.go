package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("eval", "perplexity (and retention against --base) and multiple-choice accuracy of a model", runEval)
}

// evalModel is one model's results.
type evalModel struct {
	Slices map[string]prune.Perplexity `json:"ppl"`
	MC     *prune.Accuracy             `json:"mc,omitempty"`
}

func runEval(args []string) (any, error) {
	fs := newFlags("eval")
	path := fs.String("model", "", "model folder, .gguf or .zip (the expert)")
	base := fs.String("base", "", "the dense model it was pruned from: adds retention = base ppl / model ppl")
	data := fs.String("data", "", "held-out JSONL; without it the built-in held-out text (expert slice and general mix)")
	mc := fs.String("mc", "", "multiple-choice JSONL: {\"question\", \"choices\": [...], \"answer\": index} per line")
	var t corpus.Target
	fs.StringVar(&t.Language, "language", "", "expert language for the built-in expert slice")
	fs.StringVar(&t.Domain, "domain", "", "expert domain for the built-in expert slice")
	fs.StringVar(&t.Task, "task", "", "expert task for the built-in expert slice")
	maxDocs := fs.Int("max-docs", 0, "use at most N documents per slice (0: all)")
	maxTokens := fs.Int("max-tokens", 512, "cut each document to this many tokens (BOS included)")
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		return nil, fmt.Errorf("--model is required")
	}
	if inWasm(*eng) {
		return WasmRunner("eval", args)
	}
	slices := map[string][]corpus.Doc{}
	if *data != "" {
		d, err := corpus.ReadFile(*data)
		if err != nil {
			return nil, err
		}
		slices["data"] = d
	} else {
		held, err := corpus.Builtin("heldout")
		if err != nil {
			return nil, err
		}
		slices["expert"], slices["general"] = t.Slice(held, 4), held
	}
	for k, d := range slices {
		if *maxDocs > 0 && len(d) > *maxDocs {
			slices[k] = d[:*maxDocs]
		}
	}
	var qs []prune.Question
	if *mc != "" {
		f, err := os.Open(*mc)
		if err != nil {
			return nil, err
		}
		qs, err = prune.ReadQuestions(f, *mc)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	be, done, err := backend(*eng)
	if err != nil {
		return nil, err
	}
	defer done()
	ctx := context.Background()
	one := func(p string) (*evalModel, error) {
		m, err := model.OpenPath(p)
		if err != nil {
			return nil, err
		}
		tok, err := tokenizer.LoadPath(p)
		if err != nil {
			return nil, err
		}
		r := &evalModel{Slices: map[string]prune.Perplexity{}}
		for name, docs := range slices {
			pp, err := prune.Evaluate(ctx, m, be, prune.Tokenize(tok, docs, min(*maxTokens, m.Config.MaxPos)), progressLog())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			r.Slices[name] = pp
		}
		if qs != nil {
			acc, err := prune.MultipleChoice(ctx, m, be, tok, qs)
			if err != nil {
				return nil, err
			}
			r.MC = &acc
		}
		return r, nil
	}
	res, err := one(*path)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"model": res}
	if *base != "" {
		b, err := one(*base)
		if err != nil {
			return nil, fmt.Errorf("--base: %w", err)
		}
		ret := map[string]float64{}
		for k, v := range res.Slices {
			ret[k] = b.Slices[k].PPL / v.PPL
		}
		out["base"], out["retention"] = b, ret
	}
	return out, nil
}
