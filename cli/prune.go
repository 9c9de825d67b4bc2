package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("prune", "prune a model into a language/domain/task expert and export it", runPrune)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// Request is everything a prune job needs, shared by the CLI and the page.
type Request struct {
	Target     corpus.Target
	Corpora    []string     // calibration files on disk
	CorpusData []CorpusData // calibration files in memory (the browser)
	Builtin    bool
	Ratio      float64
	Method     string
	Placement  string
	Format     string
	Out        string
	Seed       uint64
	MaxTokens  int
	MaxDocs    int
	Eval       bool
	// Vocab is "off" (or "") to keep the whole vocabulary, "target" to keep
	// only the tokens the target's corpora need (prune.VocabPlan).
	Vocab string
}

func pruneFlags(fs *flag.FlagSet, r *Request) {
	fs.StringVar(&r.Target.Language, "language", "", "expert language, ISO 639-1 (de, zh, ...), several comma-separated (de,en), or any")
	fs.StringVar(&r.Target.Domain, "domain", "", "expert domain (law, medicine, finance, code, science, general) or any")
	fs.StringVar(&r.Target.Task, "task", "", "expert task (qa, summarization, translation, classification, reasoning) or any")
	fs.Var((*multi)(&r.Corpora), "corpus", "extra calibration JSONL (or plain text) file; repeatable")
	fs.BoolVar(&r.Builtin, "builtin", true, "calibrate on the built-in corpora too")
	fs.Float64Var(&r.Ratio, "ratio", 0, "fraction of the decoder's attention+FFN parameters to remove (0 <= R < 1)")
	fs.StringVar(&r.Method, "method", "cusprun", "cusprun, wanda-sp, flap, magnitude or random")
	fs.StringVar(&r.Placement, "placement", "uniform", "uniform (same widths every layer) or adaptive (per-layer; GGUF deci)")
	fs.StringVar(&r.Format, "format", "hf", "hf (folder), zip or gguf")
	fs.StringVar(&r.Out, "out", "", "output path (must not exist)")
	fs.Uint64Var(&r.Seed, "seed", 1, "seed of the random baseline")
	fs.IntVar(&r.MaxTokens, "max-tokens", 512, "cut each calibration document to this many tokens")
	fs.IntVar(&r.MaxDocs, "max-docs", 0, "use at most this many calibration documents (0: all)")
	fs.BoolVar(&r.Eval, "eval", true, "measure perplexity before and after on held-out text")
	fs.StringVar(&r.Vocab, "vocab", "off", "off (keep the vocabulary) or target (keep only the tokens the target's corpora need; docs/VOCAB.md)")
}

func runPrune(args []string) (any, error) {
	fs := newFlags("prune")
	var r Request
	path := fs.String("model", "", "model folder, .gguf or .zip")
	pruneFlags(fs, &r)
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" || r.Out == "" {
		return nil, fmt.Errorf("--model and --out are required")
	}
	if inWasm(*eng) {
		return WasmRunner("prune", args)
	}
	be, done, err := backend(*eng)
	if err != nil {
		return nil, err
	}
	defer done()
	folder, err := source.OpenPath(*path)
	if err != nil {
		return nil, err
	}
	res, err := Prune(context.Background(), folder, be, r, progressLog())
	if err != nil {
		return nil, err
	}
	rep, _ := json.MarshalIndent(res, "", "  ")
	os.Remove(ReportPath(r.Out)) // a report of an earlier expert at this path is stale
	if err := export.ToFile(ReportPath(r.Out), func(w io.Writer) error { _, err := w.Write(append(rep, '\n')); return err }); err != nil {
		return nil, fmt.Errorf("writing the report: %w", err)
	}
	return res, nil
}

// ReportPath is where prune writes report.json: beside the output, named
// after it (expert/ -> expert.report.json).
func ReportPath(out string) string {
	out = filepath.Clean(out)
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + ".report.json"
}

// Result is prune's JSON summary (and report.json).
type Result struct {
	Out          string            `json:"out"`
	Format       string            `json:"format"`
	Family       string            `json:"family"`
	Method       string            `json:"method"`
	Placement    string            `json:"placement"`
	Ratio        float64           `json:"ratio"`
	RatioActual  float64           `json:"ratio_actual"`
	Target       map[string]string `json:"target"`
	ParamsBefore int64             `json:"params_before"`
	ParamsAfter  int64             `json:"params_after"`
	Decoder      [2]int64          `json:"decoder_attn_ffn_params"`
	Pruned       struct {
		FFN        []int `json:"ffn"`
		AttnGroups []int `json:"attn_groups"`
	} `json:"pruned"`
	Kept struct {
		FFN   []int `json:"ffn"`
		Heads []int `json:"heads"`
		KV    []int `json:"kv_heads"`
	} `json:"kept"`
	PerLayerRatio []float64          `json:"per_layer_ratio"`
	Calibration   map[string]int     `json:"calibration"`
	Eval          map[string]any     `json:"eval,omitempty"`
	Seconds       map[string]float64 `json:"seconds"`
	Plan          *prune.Plan        `json:"plan"`
	// Vocab: vocabulary sizes (model rows) before and after, and how many
	// tokens the calibration text produced, when the vocabulary was pruned.
	Vocab map[string]int `json:"vocab,omitempty"`
}

// Job is a planned prune: the model scored, the units chosen, and
// everything the export needs. The CLI and the browser app both make one
// with PlanJob, so the same inputs give the same expert everywhere.
type Job struct {
	Model    *model.Model
	Tok      *tokenizer.Tokenizer // the source's tokenizer
	TokAfter *tokenizer.Tokenizer // the expert's (restricted with --vocab target)
	Scorer   *prune.Scorer
	Plan     *prune.Plan
	Slicer   *prune.Slicer
	Output   prune.Output // Path unset: the caller decides where it goes
	Result   *Result      // the summary, without Out, Eval and the export's timings
}

// PlanJob checks a request, calibrates, scores and selects: everything but
// writing the expert.
func PlanJob(ctx context.Context, folder source.Folder, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, r Request, progress prune.Progress) (*Job, error) {
	t0 := time.Now()
	secs := map[string]float64{}
	lap := func(name string) { secs[name] = time.Since(t0).Seconds(); t0 = time.Now() }
	if !validIn(r.Method, prune.Methods) {
		return nil, fmt.Errorf("unknown method %q (%s)", r.Method, strings.Join(prune.Methods, ", "))
	}
	if r.Format != "hf" && r.Format != "zip" && r.Format != "gguf" {
		return nil, fmt.Errorf("unknown format %q (hf, zip or gguf)", r.Format)
	}
	if r.Vocab == "" {
		r.Vocab = "off"
	}
	if !validIn(r.Vocab, prune.VocabChoices) {
		return nil, fmt.Errorf("unknown vocab choice %q (off or target)", r.Vocab)
	}
	if r.Placement == "adaptive" && r.Format != "gguf" {
		return nil, fmt.Errorf("adaptive placement gives per-layer widths, which only GGUF (deci) holds: use --format gguf")
	}
	if r.Placement == "adaptive" && m.Config.Family != "llama" {
		return nil, fmt.Errorf("adaptive placement is written as GGUF deci, a llama-family format; %s loaders have no per-layer widths: use --placement uniform", m.Config.Family)
	}
	if progress != nil {
		progress("prepare", 0, 1)
	}
	var pool []corpus.Doc
	if r.Builtin {
		b, err := corpus.Builtin("calib")
		if err != nil {
			return nil, err
		}
		pool = append(pool, b...)
	}
	for _, c := range r.CorpusData {
		d, err := c.Read()
		if err != nil {
			return nil, err
		}
		pool = append(pool, d...)
	}
	for _, p := range r.Corpora {
		d, err := corpus.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pool = append(pool, d...)
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("no calibration documents: keep the built-in corpora or add your own")
	}
	docs, err := r.Target.Calibration(pool)
	if err != nil {
		return nil, err
	}
	vocabDocs := docs
	if r.MaxDocs > 0 && len(docs) > r.MaxDocs {
		docs = docs[:r.MaxDocs]
	}
	seqs := prune.Tokenize(tok, docs, min(r.MaxTokens, m.Config.MaxPos))
	if len(seqs) == 0 {
		return nil, fmt.Errorf("the calibration documents tokenize to nothing")
	}
	ntok := 0
	for _, s := range seqs {
		ntok += len(s)
	}
	if progress != nil {
		progress("prepare", 1, 1)
		// the first report of scoring comes after a whole layer
		progress("score", 0, len(prune.Batches(seqs, prune.BatchTokensFor(m.Config)))*m.Config.Layers)
	}
	lap("prepare")
	sc, err := prune.Score(ctx, m, be, seqs, progress)
	if err != nil {
		return nil, err
	}
	lap("score")
	if progress != nil {
		progress("select", 0, 1)
	}
	// llama.cpp's phi2 graph needs every attention head: a phi GGUF keeps them.
	ffnOnly := r.Format == "gguf" && m.Config.Family == "phi"
	plan, err := prune.Select(m.Config, sc.Scores(r.Method, r.Seed), r.Method, r.Ratio, r.Placement, ffnOnly)
	if err != nil {
		return nil, err
	}
	var vr *tokenizer.Restricted
	if r.Vocab == "target" {
		if vr, err = prune.VocabPlan(plan, tok, vocabDocs); err != nil {
			return nil, fmt.Errorf("vocabulary pruning: %w", err)
		}
	}
	sl := &prune.Slicer{M: m, Plan: plan, Source: folder}
	if r.Method == "flap" {
		sl.Compensate = func(l int) ([]float64, []float64) { return sc.FFNMean(l), sc.OMean(l) }
	}
	out := prune.Output{Format: r.Format, Name: "cusprun-expert"}
	for _, f := range prune.SmallFiles(folder) {
		if f.Name != "config.json" {
			out.Files = append(out.Files, f)
		}
	}
	if r.Format == "gguf" && m.GGUF() == nil {
		out.VocabMeta = func(w *gguf.Writer) error { return ggufVocabPadded(tok, plan.To.Vocab, w) }
	}
	tokAfter := tok
	if vr != nil {
		if out.Files, err = prune.VocabFiles(out.Files, vr); err != nil {
			return nil, err
		}
		out.VocabMeta = prune.VocabMeta(vr, plan.To.Vocab)
		tokAfter = vr.Tokenizer
	}
	if progress != nil {
		progress("select", 1, 1)
	}
	lap("select")
	res := &Result{Format: r.Format, Family: m.Config.Family, Method: r.Method, Placement: r.Placement,
		Ratio: r.Ratio, Plan: plan, Seconds: secs,
		Target:      map[string]string{"language": r.Target.Get("language"), "domain": r.Target.Get("domain"), "task": r.Target.Get("task")},
		Calibration: map[string]int{"docs": len(seqs), "tokens": ntok}}
	before, after := prune.Count(m.Config), prune.Count(plan.To)
	res.ParamsBefore, res.ParamsAfter = before.Total, after.Total
	res.Decoder = [2]int64{before.Decoder, after.Decoder}
	res.RatioActual = 1 - float64(after.Decoder)/float64(before.Decoder)
	res.Pruned.FFN, res.Pruned.AttnGroups = plan.Pruned()
	for l := 0; l < plan.To.Layers; l++ {
		res.Kept.FFN = append(res.Kept.FFN, plan.To.FFNAt(l))
		res.Kept.Heads = append(res.Kept.Heads, plan.To.HeadsAt(l))
		res.Kept.KV = append(res.Kept.KV, plan.To.KVHeadsAt(l))
		res.PerLayerRatio = append(res.PerLayerRatio, 1-float64(after.PerLayer[l])/float64(before.PerLayer[l]))
	}
	if vr != nil {
		res.Vocab = map[string]int{"before": m.Config.Vocab, "after": plan.To.Vocab, "tokenizer_before": tok.VocabSize()}
	}
	return &Job{Model: m, Tok: tok, TokAfter: tokAfter, Scorer: sc, Plan: plan, Slicer: sl, Output: out, Result: res}, nil
}

// Prune runs a whole job on a model folder: calibrate, score, select,
// export, verify, evaluate. Only a complete, verified expert appears at
// r.Out.
func Prune(ctx context.Context, folder source.Folder, be model.Backend, r Request, progress prune.Progress) (*Result, error) {
	m, err := model.Open(folder)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		return nil, fmt.Errorf("the model's tokenizer: %w", err)
	}
	job, err := PlanJob(ctx, folder, m, tok, be, r, progress)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	res := job.Result
	res.Out = r.Out
	if progress != nil {
		progress("export", 0, 1)
	}
	out := job.Output
	out.Path = r.Out
	st, err := prune.ExportStaged(job.Slicer, out)
	if err != nil {
		return nil, err
	}
	defer st.Abort() // no-op once committed
	if err := prune.Verify(st.Tmp, job.Slicer); err != nil {
		return nil, err
	}
	if progress != nil {
		progress("export", 1, 1)
	}
	res.Seconds["export"] = time.Since(t0).Seconds()
	if r.Eval {
		t0 = time.Now()
		ev, err := evalBeforeAfter(ctx, m, st.Tmp, be, tok, job.TokAfter, r.Target, min(r.MaxTokens, m.Config.MaxPos), progress)
		if err != nil {
			return nil, err
		}
		res.Eval = ev
		res.Seconds["evaluate"] = time.Since(t0).Seconds()
	}
	if err := st.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

func validIn(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// evalBeforeAfter measures perplexity of the source and the expert on the
// built-in held-out text: the expert slice and a general mix.
func evalBeforeAfter(ctx context.Context, dense *model.Model, out string, be model.Backend, tok, tokAfter *tokenizer.Tokenizer,
	t corpus.Target, maxTok int, progress prune.Progress) (map[string]any, error) {
	held, err := corpus.Builtin("heldout")
	if err != nil {
		return nil, err
	}
	pruned, err := model.OpenPath(out)
	if err != nil {
		return nil, err
	}
	slices := map[string][]corpus.Doc{"expert": t.Slice(held, 4), "general": held}
	res := map[string]any{}
	for name, docs := range slices {
		seqs := prune.Tokenize(tok, docs, maxTok)
		if len(seqs) == 0 {
			continue
		}
		a, err := prune.Evaluate(ctx, dense, be, seqs, progress)
		if err != nil {
			return nil, err
		}
		if tokAfter != tok {
			seqs = prune.Tokenize(tokAfter, docs, maxTok)
		}
		b, err := prune.Evaluate(ctx, pruned, be, seqs, progress)
		if err != nil {
			return nil, err
		}
		res[name] = map[string]any{"ppl_before": a.PPL, "ppl_after": b.PPL, "retention": a.PPL / b.PPL, "docs": a.Docs, "tokens": a.Tokens}
	}
	return res, nil
}

// CorpusData is a calibration file held in memory: JSONL when its name
// ends in .jsonl or .json, plain text otherwise.
type CorpusData struct {
	Name string
	Data []byte
}

// Read parses it.
func (c CorpusData) Read() ([]corpus.Doc, error) {
	ln := strings.ToLower(c.Name)
	if strings.HasSuffix(ln, ".jsonl") || strings.HasSuffix(ln, ".json") {
		return corpus.ReadJSONL(bytes.NewReader(c.Data), c.Name)
	}
	return corpus.ReadText(bytes.NewReader(c.Data), c.Name)
}
