package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("ppl", "perplexity of a model on the documents of a JSONL file", runPPL)
}

// progressLog prints each phase's progress on stderr, at most every 5%,
// with the time left estimated from the phase's own throughput so far.
func progressLog() prune.Progress {
	type phase struct {
		last  int
		start time.Time
	}
	seen := map[string]*phase{}
	return func(name string, done, total int) {
		p := seen[name]
		if p == nil {
			p = &phase{last: -5, start: time.Now()}
			seen[name] = p
		}
		pct := 100 * done / max(total, 1)
		if pct < p.last+5 && done != total {
			return
		}
		p.last = pct
		left := ""
		if el := time.Since(p.start).Seconds(); done > 0 && done < total && el > 1 {
			left = fmt.Sprintf(", about %s left", fmtDuration(el*float64(total-done)/float64(done)))
		}
		Logf("%s: %d/%d (%d%%)%s", name, done, total, pct, left)
	}
}

// fmtDuration prints seconds as 0:42, 3:07 or 1:02:05.
func fmtDuration(sec float64) string {
	s := int(sec + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func runPPL(args []string) (any, error) {
	fs := newFlags("ppl")
	path := fs.String("model", "", "model folder or .gguf file")
	data := fs.String("data", "", "documents: JSONL (one {\"text\": ...} per line), a JSON array or CSV/TSV of records, or plain text")
	maxDocs := fs.Int("max-docs", 0, "score only the first N documents (0: all)")
	maxTokens := fs.Int("max-tokens", 512, "cut each document to this many tokens (BOS included)")
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" || *data == "" {
		return nil, fmt.Errorf("--model and --data are required")
	}
	if err := checkSizes(*maxDocs, *maxTokens); err != nil {
		return nil, err
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
	limit := min(*maxTokens, m.Config.Context())
	return prune.Evaluate(context.Background(), m, be, prune.Tokenize(tok, docs, limit), progressLog())
}
