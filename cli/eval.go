package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("eval", "perplexity (and retention against --base) and multiple-choice accuracy of a model", runEval)
}

// evalModel is one model's results (eval without --base).
type evalModel struct {
	Slices map[string]prune.Perplexity `json:"ppl"`
	MC     *prune.Accuracy             `json:"mc,omitempty"`
}

func runEval(args []string) (any, error) {
	fs := newFlags("eval")
	path := fs.String("model", "", "model folder, .gguf or .zip (the expert)")
	base := fs.String("base", "", "the dense model it was pruned from: adds retention = base ppl / model ppl")
	data := fs.String("data", "", "held-out documents (JSONL, a JSON array or CSV/TSV of records, plain text, or a folder of them); without it the built-in held-out text (expert slice and general mix)")
	mcPath := fs.String("mc", "", "multiple-choice questions, one JSON object per line (or a JSON array of them): {\"question\", \"choices\": [...], \"answer\": index}, or as MMLU, ARC, OpenBookQA or HellaSwag are downloaded (answers by index, label, letter or text)")
	var t corpus.Target
	fs.Var(values{&t.Language}, "language", "expert language for the built-in expert slice")
	fs.Var(values{&t.Domain}, "domain", "expert domain for the built-in expert slice")
	fs.Var(values{&t.Task}, "task", "expert task for the built-in expert slice")
	maxDocs := fs.Int("max-docs", 0, "use at most N documents per slice (0: all)")
	maxTokens := fs.Int("max-tokens", 512, "cut each document to this many tokens (BOS included)")
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		return nil, fmt.Errorf("--model is required")
	}
	if err := checkSizes(*maxDocs, *maxTokens); err != nil {
		return nil, err
	}
	if inWasm(*eng) {
		return WasmRunner("eval", args)
	}
	var slices []job.Slice
	if *data != "" {
		if t != (corpus.Target{}) {
			return nil, fmt.Errorf("--language, --domain and --task choose the slice of the built-in held-out text; with --data every document is measured: leave them out")
		}
		d, err := corpus.ReadFile(*data)
		if err != nil {
			return nil, err
		}
		slices = []job.Slice{{Name: "data", Docs: job.Cap(d, *maxDocs)}}
	} else {
		held, err := corpus.Builtin("heldout")
		if err != nil {
			return nil, err
		}
		if m := t.Missing(held); len(m) > 0 {
			return nil, fmt.Errorf("no built-in held-out document has %s; measure your own held-out text with --data FILE", m[0].Known(held))
		}
		if slices, err = job.HeldOut(t, *maxDocs); err != nil {
			return nil, err
		}
	}
	var qs []prune.Question
	if *mcPath != "" {
		f, err := os.Open(*mcPath)
		if err != nil {
			return nil, err
		}
		qs, err = prune.ReadQuestions(f, *mcPath)
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
	open := func(p string) (job.Side, error) {
		m, err := model.OpenPath(p)
		if err != nil {
			return job.Side{}, err
		}
		tok, err := tokenizer.LoadPath(p)
		return job.Side{Model: m, Tok: tok}, err
	}
	mc := func(s job.Side) (*prune.Accuracy, error) {
		if qs == nil {
			return nil, nil
		}
		acc, err := prune.MultipleChoice(ctx, s.Model, be, s.Tok, qs)
		return &acc, err
	}
	expert, err := open(*path)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if *base == "" {
		ppl, err := job.EvaluateSlices(ctx, be, expert, slices, *maxTokens, progressLog())
		if err != nil {
			return nil, err
		}
		acc, err := mc(expert)
		if err != nil {
			return nil, err
		}
		out["model"] = evalModel{Slices: ppl, MC: acc}
		return out, nil
	}
	dense, err := open(*base)
	if err != nil {
		return nil, fmt.Errorf("--base: %w", err)
	}
	if err := job.PrunedFrom(dense.Model.Config, expert.Model.Config); err != nil {
		return nil, fmt.Errorf("--base: %w", err)
	}
	ev, err := job.EvaluateBeforeAfter(ctx, be, dense, expert, slices, *maxTokens, progressLog())
	if err != nil {
		return nil, err
	}
	out["slices"] = ev
	for _, s := range []struct {
		key  string
		side job.Side
	}{{"model", expert}, {"base", dense}} {
		acc, err := mc(s.side)
		if err != nil {
			return nil, err
		}
		if acc != nil {
			out[s.key+"_mc"] = acc
		}
	}
	return out, nil
}
