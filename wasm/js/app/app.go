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
	"time"

	"github.com/cusprun/cusprun/cli"
	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/gguf"
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
	Corpora   []UserCorpus `json:"-"`
}

// UserCorpus is a calibration file the user added: JSONL when its name ends
// in .jsonl or .json, plain text otherwise.
type UserCorpus struct {
	Name string
	Data []byte
}

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
	sc     *prune.Scorer
	plan   *prune.Plan
	slicer *prune.Slicer
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

// Prune calibrates, scores and selects: everything up to the export, as
// `cusprun prune` does with the same inputs.
func (s *Session) Prune(ctx context.Context, o Options, progress prune.Progress) (*Result, error) {
	o.Defaults()
	t0 := time.Now()
	secs := map[string]float64{}
	lap := func(name string) { secs[name] = time.Since(t0).Seconds(); t0 = time.Now() }
	if !in(o.Method, prune.Methods) {
		return nil, fmt.Errorf("unknown method %q (%s)", o.Method, strings.Join(prune.Methods, ", "))
	}
	if o.Format != "zip" && o.Format != "gguf" {
		return nil, fmt.Errorf("unknown format %q (zip or gguf)", o.Format)
	}
	if o.Placement == "adaptive" && o.Format != "gguf" {
		return nil, fmt.Errorf("adaptive placement gives each layer its own width, which only GGUF (deci) holds: choose the GGUF format")
	}
	m := s.m
	if o.Placement == "adaptive" && m.Config.Family != "llama" {
		return nil, fmt.Errorf("adaptive placement is written as GGUF deci, a llama-family format; %s loaders have no per-layer widths: choose uniform placement", m.Config.Family)
	}
	if progress != nil {
		progress("prepare", 0, 1)
	}
	var pool []corpus.Doc
	if !o.NoBuiltin {
		b, err := corpus.Builtin("calib")
		if err != nil {
			return nil, err
		}
		pool = append(pool, b...)
	}
	for _, c := range o.Corpora {
		docs, err := ReadCorpus(c)
		if err != nil {
			return nil, err
		}
		pool = append(pool, docs...)
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("no calibration documents: keep the built-in corpora or add your own")
	}
	target := corpus.Target{Language: o.Language, Domain: o.Domain, Task: o.Task}
	docs, err := target.Calibration(pool)
	if err != nil {
		return nil, err
	}
	if o.MaxDocs > 0 && len(docs) > o.MaxDocs {
		docs = docs[:o.MaxDocs]
	}
	seqs := prune.Tokenize(s.tok, docs, min(o.MaxTokens, m.Config.MaxPos))
	if len(seqs) == 0 {
		return nil, fmt.Errorf("the calibration documents tokenize to nothing")
	}
	ntok := 0
	for _, q := range seqs {
		ntok += len(q)
	}
	if progress != nil {
		progress("prepare", 1, 1)
	}
	lap("prepare")
	if progress != nil { // the first report comes after a whole layer
		progress("score", 0, len(prune.Batches(seqs, prune.BatchTokensFor(m.Config)))*m.Config.Layers)
	}
	sc, err := prune.Score(ctx, m, s.be, seqs, progress)
	if err != nil {
		return nil, err
	}
	lap("score")
	if progress != nil {
		progress("select", 0, 1)
	}
	ffnOnly := o.Format == "gguf" && m.Config.Family == "phi"
	plan, err := prune.Select(m.Config, sc.Scores(o.Method, o.Seed), o.Method, o.Ratio, o.Placement, ffnOnly)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress("select", 1, 1)
	}
	lap("select")
	sl := &prune.Slicer{M: m, Plan: plan, Source: s.folder}
	if o.Method == "flap" {
		sl.Compensate = func(l int) ([]float64, []float64) { return sc.FFNMean(l), sc.OMean(l) }
	}
	s.mu.Lock()
	s.opts, s.sc, s.plan, s.slicer, s.expert = o, sc, plan, sl, nil
	s.mu.Unlock()

	res := &Result{Family: m.Config.Family, Method: o.Method, Placement: o.Placement, Format: o.Format, Ratio: o.Ratio,
		Plan: plan, Seconds: secs,
		Target:      map[string]string{"language": target.Get("language"), "domain": target.Get("domain"), "task": target.Get("task")},
		Calibration: map[string]int{"docs": len(seqs), "tokens": ntok}, FileName: FileName(o)}
	before, after := prune.Count(m.Config), prune.Count(plan.To)
	res.ParamsBefore, res.ParamsAfter = before.Total, after.Total
	res.Decoder = [2]int64{before.Decoder, after.Decoder}
	res.RatioActual = 1 - float64(after.Decoder)/float64(before.Decoder)
	res.Pruned.FFN, res.Pruned.AttnGroups = plan.Pruned()
	for l := 0; l < plan.To.Layers; l++ {
		res.Kept.FFN = append(res.Kept.FFN, plan.To.FFNAt(l))
		res.Kept.Heads = append(res.Kept.Heads, plan.To.HeadsAt(l))
		res.Kept.KV = append(res.Kept.KV, plan.To.KVHeadsAt(l))
		res.From.FFN = append(res.From.FFN, m.Config.FFNAt(l))
		res.From.Heads = append(res.From.Heads, m.Config.HeadsAt(l))
		res.From.KV = append(res.From.KV, m.Config.KVHeadsAt(l))
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

// ReadCorpus parses a user corpus: JSONL (.jsonl, .json) or plain text.
func ReadCorpus(c UserCorpus) ([]corpus.Doc, error) {
	ln := strings.ToLower(c.Name)
	if strings.HasSuffix(ln, ".jsonl") || strings.HasSuffix(ln, ".json") {
		return corpus.ReadJSONL(strings.NewReader(string(c.Data)), c.Name)
	}
	return corpus.ReadText(strings.NewReader(string(c.Data)), c.Name)
}

func in(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ErrNoPlan is returned by the calls that need a finished prune.
var ErrNoPlan = errors.New("prune the model first")

// Export streams the expert (zip or GGUF, as the last Prune asked) to w.
// Cancelling ctx makes the next write fail; the caller discards what it
// wrote.
func (s *Session) Export(ctx context.Context, w io.Writer) error {
	s.mu.Lock()
	sl, o := s.slicer, s.opts
	s.mu.Unlock()
	if sl == nil {
		return ErrNoPlan
	}
	out := prune.Output{Format: o.Format, Name: "cusprun-expert"}
	for _, f := range prune.SmallFiles(s.folder) {
		if f.Name != "config.json" {
			out.Files = append(out.Files, f)
		}
	}
	if o.Format == "gguf" && s.m.GGUF() == nil {
		tok := s.tok
		nv := sl.Plan.To.Vocab
		out.VocabMeta = func(w *gguf.Writer) error { return cli.GGUFVocab(tok, nv, w) }
	}
	return prune.ExportTo(sl, out, &ctxWriter{ctx: ctx, w: w})
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
	sl, o := s.slicer, s.opts
	s.mu.Unlock()
	if sl == nil {
		return ErrNoPlan
	}
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
	ex, o := s.expert, s.opts
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
		b, err := prune.Evaluate(ctx, ex, s.be, seqs, ph)
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
	m := s.m
	if which == "expert" {
		s.mu.Lock()
		m = s.expert
		s.mu.Unlock()
		if m == nil {
			return "", ErrNoPlan
		}
	}
	pids := s.tok.Encode(prompt, tokenizer.EncodeOptions{})
	ids := pids
	if b := s.tok.BOS(); b >= 0 {
		ids = append([]int{b}, pids...)
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("the prompt is empty")
	}
	// The continuation is decoded with the prompt, so the space between
	// them survives (SentencePiece drops a leading one).
	head := s.tok.DecodeSkipSpecial(pids)
	text := func(out []int) string {
		full := s.tok.DecodeSkipSpecial(append(append([]int(nil), pids...), out...))
		if strings.HasPrefix(full, head) {
			return full[len(head):]
		}
		return s.tok.DecodeSkipSpecial(out)
	}
	var out []int
	var cerr error
	_, err := m.Generate(ids, n, 0, 1, s.tok.EOS(), func(id int) bool {
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
