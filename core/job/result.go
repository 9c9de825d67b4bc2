package job

import "github.com/cusprun/cusprun/core/prune"

// Result is a job's summary: what the CLI prints and writes to report.json,
// and what the page shows.
type Result struct {
	Out          string            `json:"out,omitempty"`
	Format       string            `json:"format"`
	Quant        string            `json:"quant,omitempty"` // tensor types asked for (prune.Quants)
	Family       string            `json:"family"`
	Method       string            `json:"method"`
	Placement    string            `json:"placement"`
	Ratio        float64           `json:"ratio"`
	RatioActual  float64           `json:"ratio_actual"`
	Target       map[string]string `json:"target"`
	ParamsBefore int64             `json:"params_before"`
	ParamsAfter  int64             `json:"params_after"`
	Decoder      [2]int64          `json:"decoder_attn_ffn_params"`
	Pruned       PerLayer          `json:"pruned"`
	Kept         Widths            `json:"kept"`
	From         Widths            `json:"from"`
	// PerLayerRatio is the fraction of each layer's attention+FFN
	// parameters removed.
	PerLayerRatio []float64          `json:"per_layer_ratio"`
	Calibration   map[string]int     `json:"calibration"`             // docs, tokens
	ScoresCached  bool               `json:"scores_cached,omitempty"` // selected from a cache of an earlier job
	Eval          map[string]Eval    `json:"eval,omitempty"`
	Seconds       map[string]float64 `json:"seconds"`
	// Refit says how the refit (compensation) got its Gram matrices:
	// "from scoring" (kept by the scoring pass: it only solved) or
	// "own pass" (a second pass over the calibration text); empty
	// without the refit.
	Refit string `json:"refit,omitempty"`
	// BytesBefore is the source model's files on disk; BytesAfter the
	// expert's, once written.
	BytesBefore int64       `json:"bytes_before"`
	BytesAfter  int64       `json:"bytes_after,omitempty"`
	Plan        *prune.Plan `json:"plan"`
	// Vocab: vocabulary sizes (model rows) before and after, and the
	// source tokenizer's size, when the vocabulary was pruned.
	Vocab map[string]int `json:"vocab,omitempty"`
	// Tensors says, per tensor of a GGUF expert, what the export did
	// (copied the source's quant blocks, requantized, converted) and the
	// type written.
	Tensors map[string]string `json:"tensors,omitempty"`
	// Notes are what the user should know about the result that is not an
	// error: a part of the target the built-in held-out text has nothing
	// for, say.
	Notes []string `json:"notes,omitempty"`
}

// PerLayer is how many FFN neurons and attention groups each layer lost.
type PerLayer struct {
	FFN        []int `json:"ffn"`
	AttnGroups []int `json:"attn_groups"`
}

// Widths is each layer's FFN width, query heads and KV heads.
type Widths struct {
	FFN   []int `json:"ffn"`
	Heads []int `json:"heads"`
	KV    []int `json:"kv_heads"`
}

// Eval is perplexity before and after on one held-out slice.
type Eval struct {
	PPLBefore float64 `json:"ppl_before"`
	PPLAfter  float64 `json:"ppl_after"`
	Retention float64 `json:"retention"` // PPLBefore / PPLAfter
	Docs      int     `json:"docs"`
	Tokens    int     `json:"tokens"`
}
