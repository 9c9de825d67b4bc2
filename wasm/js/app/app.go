// Package app is the browser app's job logic, free of syscall/js so that it
// builds and is tested natively: open a model from a source.Folder, prune it
// (calibrate, score, select) the way `cusprun prune` does, stream the
// expert to any io.Writer, re-open what was written to verify it and measure
// it, and generate short previews. wasm/js wraps it in a Promise-based
// JavaScript API.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Options is one prune job's settings; the zero values are the CLI's
// defaults (see Defaults).
type Options struct {
	Language  string       `json:"language"`
	Domain    string       `json:"domain"`
	Task      string       `json:"task"`
	Ratio     float64      `json:"ratio"`
	Method    string       `json:"method"`
	Placement string       `json:"placement"`
	Format    string       `json:"format"` // zip or gguf
	Seed      uint64       `json:"seed"`
	MaxTokens int          `json:"maxTokens"`
	MaxDocs   int          `json:"maxDocs"`
	NoBuiltin bool         `json:"noBuiltin"`
	Vocab     string       `json:"vocab"` // "off" or "target" (docs/VOCAB.md)
	Corpora   []UserCorpus `json:"-"`
}

// UserCorpus is a calibration file the user added: JSONL when its name
// ends in .jsonl or .json, plain text otherwise.
type UserCorpus = cli.CorpusData

// Defaults fills what the CLI would default.
func (o *Options) Defaults() {
	if o.Method == "" {
		o.Method = "cusprun"
	}
	if o.Placement == "" {
		o.Placement = "uniform"
	}
	if o.Format == "" {
		o.Format = "zip"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 512
	}
	for _, p := range []*string{&o.Language, &o.Domain, &o.Task} {
		if *p == "any" {
			*p = ""
		}
	}
}

// Description is what the page shows about an opened model.
type Description struct {
	Family    string   `json:"family"`
	Format    string   `json:"format"`
	DType     string   `json:"dtype"`
	Params    int64    `json:"params"`
	Layers    int      `json:"layers"`
	Hidden    int      `json:"hidden"`
	FFN       int      `json:"ffn"`
	Heads     int      `json:"heads"`
	KVHeads   int      `json:"kvHeads"`
	HeadDim   int      `json:"headDim"`
	Vocab     int      `json:"vocab"`
	MaxPos    int      `json:"maxPos"`
	Files     []string `json:"files"`
	Tokenizer string   `json:"tokenizer"`
}

// Result is a prune job's summary (the CLI's fields where they exist).
type Result struct {
	Family       string             `json:"family"`
	Method       string             `json:"method"`
	Placement    string             `json:"placement"`
	Format       string             `json:"format"`
	Ratio        float64            `json:"ratio"`
	RatioActual  float64            `json:"ratio_actual"`
	Target       map[string]string  `json:"target"`
	ParamsBefore int64              `json:"params_before"`
	ParamsAfter  int64              `json:"params_after"`
	Decoder      [2]int64           `json:"decoder_attn_ffn_params"`
	Pruned       PerLayer           `json:"pruned"`
	Kept         Kept               `json:"kept"`
	From         Kept               `json:"from"`
	Calibration  map[string]int     `json:"calibration"`
	Seconds      map[string]float64 `json:"seconds"`
	Plan         *prune.Plan        `json:"plan"`
	Vocab        map[string]int     `json:"vocab,omitempty"`
	FileName     string             `json:"file_name"`
}

// PerLayer is how many FFN neurons and attention groups each layer lost.
type PerLayer struct {
	FFN        []int `json:"ffn"`
	AttnGroups []int `json:"attn_groups"`
}

// Kept is each layer's width.
type Kept struct {
	FFN   []int `json:"ffn"`
	Heads []int `json:"heads"`
	KV    []int `json:"kv_heads"`
}

// Session holds one opened model and the last job's plan.
type Session struct {
	mu     sync.Mutex
	folder source.Folder
	m      *model.Model
	tok    *tokenizer.Tokenizer
	be     model.Backend

	opts   Options
	job    *cli.Job // the last prune's plan and export settings
	expert *model.Model
}

// Open reads a model's headers and tokenizer (weights stay lazy).
func Open(folder source.Folder) (*Session, Description, error) {
	m, err := model.Open(folder)
	if err != nil {
		return nil, Description{}, err
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		return nil, Description{}, fmt.Errorf("the model's tokenizer: %w", err)
	}
	c := m.Config
	d := Description{Family: c.Family, Format: m.Format, DType: m.DType.String(), Params: prune.Count(c).Total,
		Layers: c.Layers, Hidden: c.Hidden, FFN: c.FFN, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		Vocab: c.Vocab, MaxPos: c.MaxPos, Files: folder.Names(), Tokenizer: tok.Name()}
	return &Session{folder: folder, m: m, tok: tok, be: model.CPU{}}, d, nil
}

// SetBackend chooses the engine for scoring and evaluation.
func (s *Session) SetBackend(be model.Backend) { s.be = be }

// Model is the opened (dense) model.
func (s *Session) Model() *model.Model { return s.m }

// Tokenizer is the model's tokenizer.
func (s *Session) Tokenizer() *tokenizer.Tokenizer { return s.tok }

// Prune calibrates, scores and selects: everything up to the export,
// through the same cli.PlanJob as `cusprun prune`, so the same inputs give
// the same expert.
func (s *Session) Prune(ctx context.Context, o Options, progress prune.Progress) (*Result, error) {
	o.Defaults()
	if o.Format != "zip" && o.Format != "gguf" {
		return nil, fmt.Errorf("unknown format %q (zip or gguf)", o.Format)
	}
	r := cli.Request{
		Target:  corpus.Target{Language: o.Language, Domain: o.Domain, Task: o.Task},
		Builtin: !o.NoBuiltin, Ratio: o.Ratio, Method: o.Method, Placement: o.Placement, Format: o.Format,
		Seed: o.Seed, MaxTokens: o.MaxTokens, MaxDocs: o.MaxDocs, Vocab: o.Vocab,
	}
	for _, c := range o.Corpora {
		r.CorpusData = append(r.CorpusData, cli.CorpusData{Name: c.Name, Data: c.Data})
	}
	job, err := cli.PlanJob(ctx, s.folder, s.m, s.tok, s.be, r, progress)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.opts, s.job, s.expert = o, job, nil
	s.mu.Unlock()
	j := job.Result
	res := &Result{Family: j.Family, Method: j.Method, Placement: j.Placement, Format: j.Format, Ratio: j.Ratio,
		RatioActual: j.RatioActual, Target: j.Target, ParamsBefore: j.ParamsBefore, ParamsAfter: j.ParamsAfter,
		Decoder: j.Decoder, Pruned: PerLayer{FFN: j.Pruned.FFN, AttnGroups: j.Pruned.AttnGroups},
		Kept: Kept{FFN: j.Kept.FFN, Heads: j.Kept.Heads, KV: j.Kept.KV}, Calibration: j.Calibration,
		Seconds: j.Seconds, Plan: j.Plan, Vocab: j.Vocab, FileName: FileName(o)}
	for l := 0; l < s.m.Config.Layers; l++ {
		res.From.FFN = append(res.From.FFN, s.m.Config.FFNAt(l))
		res.From.Heads = append(res.From.Heads, s.m.Config.HeadsAt(l))
		res.From.KV = append(res.From.KV, s.m.Config.KVHeadsAt(l))
	}
	return res, nil
}

// FileName is the download's name: cusprun-expert-de-law-25.zip.
func FileName(o Options) string {
	parts := []string{"cusprun-expert"}
	for _, v := range []string{o.Language, o.Domain, o.Task} {
		if v != "" && v != "any" {
			parts = append(parts, v)
		}
	}
	parts = append(parts, fmt.Sprintf("%d", int(o.Ratio*100+0.5)))
	ext := ".zip"
	if o.Format == "gguf" {
		ext = ".gguf"
	}
	return strings.Join(parts, "-") + ext
}

// ErrNoPlan is returned by the calls that need a finished prune.
var ErrNoPlan = errors.New("prune the model first")

// Export streams the expert (zip or GGUF, as the last Prune asked) to w.
// Cancelling ctx makes the next write fail; the caller discards what it
// wrote.
func (s *Session) Export(ctx context.Context, w io.Writer) error {
	s.mu.Lock()
	job := s.job
	s.mu.Unlock()
	if job == nil {
		return ErrNoPlan
	}
	return prune.ExportTo(job.Slicer, job.Output, &ctxWriter{ctx: ctx, w: w})
}

// ctxWriter stops a stream when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// OpenExpert opens what Export wrote (read back from wherever the page put
// it) and checks every tensor against the plan; the expert is then used by
// Evaluate and Generate.
func (s *Session) OpenExpert(src source.Source) error {
	s.mu.Lock()
	job, o := s.job, s.opts
	s.mu.Unlock()
	if job == nil {
		return ErrNoPlan
	}
	sl := job.Slicer
	var f source.Folder
	if o.Format == "zip" {
		z, err := source.OpenZip(src)
		if err != nil {
			return err
		}
		f = z
	} else {
		f = single{src, "expert.gguf"}
	}
	out, err := model.Open(f)
	if err != nil {
		return fmt.Errorf("verify: the output does not open: %w", err)
	}
	if err := prune.VerifyModel(out, sl); err != nil {
		return err
	}
	s.mu.Lock()
	s.expert = out
	s.mu.Unlock()
	return nil
}

// single is a folder of one file.
type single struct {
	src  source.Source
	name string
}

func (f single) Names() []string { return []string{f.name} }
func (f single) Open(n string) (source.Source, error) {
	if n != f.name {
		return nil, fmt.Errorf("%s: no such file", n)
	}
	return f.src, nil
}

// Eval is perplexity before and after on one held-out slice.
type Eval struct {
	PPLBefore float64 `json:"ppl_before"`
	PPLAfter  float64 `json:"ppl_after"`
	Retention float64 `json:"retention"`
	Docs      int     `json:"docs"`
	Tokens    int     `json:"tokens"`
}

// Evaluate measures the dense model and the expert on the built-in held-out
// text: the expert slice and the general mix (as `cusprun prune` reports).
// maxDocs > 0 caps the documents of each slice, maxTokens > 0 their length
// (the page keeps evaluation proportionate to a tab's speed).
func (s *Session) Evaluate(ctx context.Context, maxDocs, maxTokens int, progress prune.Progress) (map[string]Eval, error) {
	s.mu.Lock()
	ex, o, job := s.expert, s.opts, s.job
	s.mu.Unlock()
	if ex == nil {
		return nil, ErrNoPlan
	}
	held, err := corpus.Builtin("heldout")
	if err != nil {
		return nil, err
	}
	t := corpus.Target{Language: o.Language, Domain: o.Domain, Task: o.Task}
	maxTok := min(o.MaxTokens, s.m.Config.MaxPos)
	if maxTokens > 0 {
		maxTok = min(maxTok, maxTokens)
	}
	res := map[string]Eval{}
	run := 0 // four runs: dense and expert on two slices
	for _, name := range []string{"expert", "general"} {
		docs := held
		if name == "expert" {
			docs = t.Slice(held, 4)
		}
		if maxDocs > 0 && len(docs) > maxDocs {
			docs = spread(docs, maxDocs)
		}
		seqs := prune.Tokenize(s.tok, docs, maxTok)
		if len(seqs) == 0 {
			continue
		}
		ph := func(phase string, done, total int) {
			if progress != nil && total > 0 {
				progress("evaluate", run*1000+1000*done/total, 4000)
			}
		}
		a, err := prune.Evaluate(ctx, s.m, s.be, seqs, ph)
		if err != nil {
			return nil, err
		}
		run++
		// The expert reads the same text through its own tokenizer (the
		// same tokens, renumbered, when its vocabulary was pruned).
		b, err := prune.Evaluate(ctx, ex, s.be, prune.Tokenize(job.TokAfter, docs, maxTok), ph)
		if err != nil {
			return nil, err
		}
		run++
		res[name] = Eval{PPLBefore: a.PPL, PPLAfter: b.PPL, Retention: a.PPL / b.PPL, Docs: a.Docs, Tokens: a.Tokens}
	}
	return res, nil
}

// spread takes n documents evenly over docs (so a capped general slice
// still covers every language).
func spread(docs []corpus.Doc, n int) []corpus.Doc {
	out := make([]corpus.Doc, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, docs[i*len(docs)/n])
	}
	return out
}

// Generate continues prompt on the original ("original") or the expert
// ("expert") model, greedily, calling onText with the text so far.
func (s *Session) Generate(ctx context.Context, which, prompt string, n int, onText func(string)) (string, error) {
	m, tok := s.m, s.tok
	if which == "expert" {
		s.mu.Lock()
		m = s.expert
		if s.job != nil {
			tok = s.job.TokAfter // a pruned vocabulary has its own ids
		}
		s.mu.Unlock()
		if m == nil {
			return "", ErrNoPlan
		}
	}
	pids := tok.Encode(prompt, tokenizer.EncodeOptions{})
	ids := pids
	if b := tok.BOS(); b >= 0 {
		ids = append([]int{b}, pids...)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("the prompt is empty")
	}
	// The continuation is decoded with the prompt, so the space between
	// them survives (SentencePiece drops a leading one).
	head := tok.DecodeSkipSpecial(pids)
	text := func(out []int) string {
		full := tok.DecodeSkipSpecial(append(append([]int(nil), pids...), out...))
		if strings.HasPrefix(full, head) {
			return full[len(head):]
		}
		return tok.DecodeSkipSpecial(out)
	}
	var out []int
	var cerr error
	_, err := m.Generate(ids, n, 0, 1, tok.EOS(), func(id int) bool {
		if cerr = ctx.Err(); cerr != nil {
			return false
		}
		out = append(out, id)
		if onText != nil {
			onText(text(out))
		}
		return true
	})
	if err == nil {
		err = cerr
	}
	return text(out), err
}

// Logits runs ids through the original or expert model on the session's
// engine and returns the logits at every position ([len(ids)*vocab]).
func (s *Session) Logits(which string, ids []int) ([]float32, error) {
	m := s.m
	if which == "expert" {
		s.mu.Lock()
		m = s.expert
		s.mu.Unlock()
		if m == nil {
			return nil, ErrNoPlan
		}
	}
	for _, id := range ids {
		if id < 0 || id >= m.Config.Vocab {
			return nil, fmt.Errorf("token id %d is outside the vocabulary (%d)", id, m.Config.Vocab)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("give at least one token id")
	}
	return m.AllLogits(s.be, ids)
}

// Tokenize encodes text with the model's tokenizer (no BOS).
func (s *Session) Tokenize(text string) []int {
	return s.tok.Encode(text, tokenizer.EncodeOptions{})
}
