package cli

import (
	"context"
	"fmt"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("ppl", "perplexity of a model on the documents of a JSONL file", runPPL)
}

// progressLog prints a phase's progress on stderr, at most every 5%.
func progressLog() prune.Progress {
	last := map[string]int{}
	return func(phase string, done, total int) {
		pct := 100 * done / max(total, 1)
		if pct >= last[phase]+5 || done == total {
			last[phase] = pct
			Logf("%s: %d/%d (%d%%)", phase, done, total, pct)
		}
	}
}

func runPPL(args []string) (any, error) {
	fs := newFlags("ppl")
	path := fs.String("model", "", "model folder or .gguf file")
	data := fs.String("data", "", "JSONL file, one {\"text\": ...} per line")
	maxDocs := fs.Int("max-docs", 0, "score only the first N documents (0: all)")
	maxTokens := fs.Int("max-tokens", 512, "cut each document to this many tokens (BOS included)")
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" || *data == "" {
		return nil, fmt.Errorf("--model and --data are required")
	}
	if inWasm(*eng) {
		return WasmRunner("ppl", args)
	}
	docs, err := corpus.ReadFile(*data)
	if err != nil {
		return nil, err
	}
	if *maxDocs > 0 && len(docs) > *maxDocs {
		docs = docs[:*maxDocs]
	}
	m, err := model.OpenPath(*path)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.LoadPath(*path)
	if err != nil {
		return nil, err
	}
	be, done, err := backend(*eng)
	if err != nil {
		return nil, err
	}
	defer done()
	limit := min(*maxTokens, m.Config.MaxPos)
	return prune.Evaluate(context.Background(), m, be, prune.Tokenize(tok, docs, limit), progressLog())
}
