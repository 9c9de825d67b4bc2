package cli

import (
	"fmt"
	"math"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("ppl", "perplexity of a model on the documents of a JSONL file", runPPL)
}

// Tokenized documents as DESIGN §4 defines them for scoring: BOS + the
// document's tokens, cut to maxTokens.
func tokenizeDocs(tok *tokenizer.Tokenizer, docs []corpus.Doc, maxTokens int) [][]int {
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

// batches groups documents so one batch holds about maxTok tokens, bounding
// the memory of the hidden states.
func batches(docs [][]int, maxTok int) [][][]int {
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

// Perplexity is the result of ppl.
type Perplexity struct {
	PPL    float64 `json:"ppl"`
	NLL    float64 `json:"nll"`
	Tokens int     `json:"tokens"`
	Docs   int     `json:"docs"`
}

// perplexity scores documents with a model through a backend.
func perplexity(m *model.Model, be model.Backend, docs [][]int, label string) (Perplexity, error) {
	var sum float64
	var n int
	for i, b := range batches(docs, 8192) {
		s, c, err := m.NLL(be, b, nil)
		if err != nil {
			return Perplexity{}, err
		}
		for d := range s {
			sum += s[d]
			n += c[d]
		}
		Logf("%s: batch %d, %d tokens scored", label, i+1, n)
	}
	if n == 0 {
		return Perplexity{}, fmt.Errorf("no tokens to score: every document is shorter than two tokens")
	}
	nll := sum / float64(n)
	return Perplexity{PPL: math.Exp(nll), NLL: nll, Tokens: n, Docs: len(docs)}, nil
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
	return perplexity(m, be, tokenizeDocs(tok, docs, limit), "ppl")
}
