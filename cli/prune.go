package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
)

func init() {
	Register("prune", "prune a model into a language/domain/task expert and export it", runPrune)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// values is a target flag (--language, --domain, --task): given more than
// once, its values add up as a comma-separated list (--language de
// --language fr is de,fr), rather than the last one silently winning.
type values struct{ p *string }

func (v values) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v values) Set(s string) error {
	if *v.p != "" {
		s = *v.p + "," + s
	}
	*v.p = s
	return nil
}

// pruneArgs are prune's flags beyond job.Options.
type pruneArgs struct {
	model, out, ratios, engine, cache string
	evalData                          string
	builtin, eval, plan, quiet        bool
}

// pruneFlags maps prune's flags onto job.Options (whose zero values are
// the defaults, so the flags' defaults are the job's).
func pruneFlags(fs *flag.FlagSet, o *job.Options, a *pruneArgs) {
	fs.StringVar(&a.model, "model", "", "model folder, .gguf or .zip")
	fs.StringVar(&a.out, "out", "", "output path (must not exist; with several ratios, each expert's path gets -PCT before its extension)")
	fs.Var(values{&o.Language}, "language", "expert language, ISO 639-1 (de, zh, ...) or its name (German, Deutsch), several comma-separated or repeated (de,en), or any")
	fs.Var(values{&o.Domain}, "domain", "expert domain (see cusprun list: law, medicine, finance, code, ...), several comma-separated or repeated, or any")
	fs.Var(values{&o.Task}, "task", "expert task (qa, summarization, translation, classification, reasoning), several comma-separated or repeated, or any")
	fs.Var((*multi)(&o.Corpora), "corpus", "extra calibration file (JSONL, a JSON array or CSV/TSV of records, or plain text) or a folder of them; repeatable")
	fs.BoolVar(&a.builtin, "builtin", true, "calibrate on the built-in corpora too")
	fs.StringVar(&a.ratios, "ratio", "", fmt.Sprintf("fraction of the decoder's attention+FFN parameters to remove, from 0 to %v; several comma-separated (0.1,0.2,0.3) write one expert each from one scoring pass", job.MaxRatio))
	fs.StringVar(&o.Method, "method", "cusprun", "cusprun, wanda-sp, flap, magnitude or random")
	fs.StringVar(&o.Placement, "placement", "uniform", "uniform (same widths every layer) or adaptive (per-layer; GGUF deci)")
	fs.StringVar(&o.Format, "format", "hf", "hf (folder), zip or gguf")
	fs.StringVar(&o.Quant, "quant", "keep", "tensor types: keep (the source's; bf16 in hf/zip from a quantized source), f32, f16, bf16, or with --format gguf q8_0, q4_0, q4_k_m, q5_k_m, q6_k, iq4_xs, iq4_nl (llama-quantize's per-tensor types)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random baseline")
	fs.BoolVar(&o.Compensate, "compensate", true, "refit o_proj and down_proj of the kept units by least squares on the calibration text, a better expert (the scoring pass keeps the Gram matrices for it where a temporary file can hold them; otherwise a second pass over the text); --compensate=false writes the kept weights unchanged")
	fs.Float64Var(&o.Reselect, "reselect", prune.DefaultPool, "with --compensate, the refit rechooses each layer's removed FFN neurons among this many times their count of the lowest ranked, keeping those whose loss the refit cannot repair (1 to 4; 1 keeps the method's choice)")
	fs.IntVar(&o.MaxTokens, "max-tokens", job.DefaultMaxTokens, "cut each calibration and held-out document to this many tokens (at least 2)")
	fs.IntVar(&o.MaxDocs, "max-docs", 0, "use at most this many calibration documents, spread over languages and domains (0: all)")
	fs.BoolVar(&a.eval, "eval", true, "measure perplexity before and after on held-out text")
	fs.StringVar(&a.evalData, "eval-data", "", "your expert's own held-out documents (a file or folder, as --corpus reads them): the expert slice of the evaluation measures them instead of the built-in held-out text (the general mix stays built in)")
	fs.IntVar(&o.EvalDocs, "eval-docs", 0, "evaluate on at most this many held-out documents per slice, spread over languages and domains (0: all)")
	fs.StringVar(&o.Vocab, "vocab", "off", "off (keep the vocabulary) or target (keep only the tokens the target's corpora need; docs/VOCAB.md)")
	fs.StringVar(&a.cache, "cache", defaultCache(), "folder of cached scores (a later prune of the same model and calibration skips scoring); off to disable")
	fs.BoolVar(&a.plan, "plan", false, "dry run: print what would be removed, sizes and a time estimate, and write nothing")
	fs.BoolVar(&a.quiet, "quiet", false, "no progress on stderr (errors still print)")
	fs.StringVar(&a.engine, "engine", "cpu", "cpu, gpu (Vulkan) or wasm (the WASI build under wazero)")
}

// defaultCache is the user's cache folder for scores.
func defaultCache() string {
	if d := os.Getenv("CUSPRUN_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "cusprun", "scores")
	}
	return "off"
}

// parseRatios reads --ratio: one or more fractions, comma-separated.
func parseRatios(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--ratio is required: the fraction of the decoder's parameters to remove, from 0 to %v (e.g. --ratio 0.2)", job.MaxRatio)
	}
	var out []float64
	seen := map[float64]bool{}
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("--ratio %q: %q is not a number", s, f)
		}
		if r < 0 || r > job.MaxRatio || r != r {
			return nil, fmt.Errorf("--ratio %v is out of range: give a fraction from 0 to %v", r, job.MaxRatio)
		}
		if seen[r] {
			return nil, fmt.Errorf("--ratio %q names %v twice", s, r)
		}
		seen[r] = true
		out = append(out, r)
	}
	return out, nil
}

// ignoredFlags names the flags given that the other flags make
// meaningless, each with why: a script that turns one setting off keeps
// working, and the user learns the flag did nothing.
func ignoredFlags(fs *flag.FlagSet, o *job.Options, a *pruneArgs) []string {
	var out []string
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "reselect" && !o.Compensate:
			out = append(out, "--reselect chooses neurons inside the refit, which --compensate=false turns off")
		case f.Name == "eval-docs" && !a.eval:
			out = append(out, "--eval-docs sizes the evaluation, which --eval=false turns off")
		case f.Name == "seed" && o.Method != "random":
			out = append(out, fmt.Sprintf("--seed seeds the random method, not %s", o.Method))
		}
	})
	return out
}

// formatOfOut takes the output format from --out's extension when
// --format is not given (x.gguf: gguf, x.zip: zip), and refuses an
// extension that names another format than --format does: writing a folder
// called x.gguf is never what was meant.
func formatOfOut(fs *flag.FlagSet, format *string, out string) error {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "format" })
	byExt := map[string]string{".gguf": "gguf", ".zip": "zip"}[strings.ToLower(filepath.Ext(out))]
	switch {
	case byExt == "" || byExt == *format:
	case !given:
		*format = byExt
	default:
		return fmt.Errorf("--out %s ends in %s, but --format is %s: use --format %s, or another name", out, filepath.Ext(out), *format, byExt)
	}
	return nil
}

// expertPaths gives each ratio its output path: --out itself for one,
// --out with -PCT before the extension for several (x.gguf -> x-20.gguf).
func expertPaths(out string, ratios []float64) []job.Expert {
	if len(ratios) == 1 {
		return []job.Expert{{Ratio: ratios[0], Out: out}}
	}
	ext := filepath.Ext(out)
	base := strings.TrimSuffix(filepath.Clean(out), ext)
	var es []job.Expert
	for _, r := range ratios {
		es = append(es, job.Expert{Ratio: r, Out: fmt.Sprintf("%s-%s%s", base, strconv.FormatFloat(r*100, 'f', -1, 64), ext)})
	}
	return es
}

// checkOut refuses an output that exists, whose folder does not, or that
// lies inside the source model (a prune never writes into its source).
func checkOut(out, modelPath string) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("--out %s already exists; choose a new path or remove it", out)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	parent := filepath.Dir(abs)
	st, err := os.Stat(parent)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("--out %s: the folder %s does not exist", out, parent)
	}
	realParent, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return err
	}
	src, err := filepath.Abs(modelPath)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(src); err == nil {
		src = r
	}
	if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
		src = filepath.Dir(src) // a single-file model: its folder is its tree
		if filepath.Join(realParent, filepath.Base(abs)) == filepath.Join(src, filepath.Base(modelPath)) {
			return fmt.Errorf("--out %s is the source model itself", out)
		}
		return nil
	}
	if rel, err := filepath.Rel(src, realParent); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("--out %s is inside the source model folder %s: write the expert somewhere else", out, modelPath)
	}
	return nil
}

func runPrune(args []string) (any, error) {
	fs := newFlags("prune")
	var o job.Options
	var a pruneArgs
	pruneFlags(fs, &o, &a)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	Quiet = a.quiet
	o.NoBuiltin, o.NoEval = !a.builtin, !a.eval
	o.SourceName = filepath.Base(filepath.Clean(a.model))
	if a.cache != "off" && a.cache != "" {
		o.CacheDir = a.cache
	}
	// Everything that can be checked is checked before the long work.
	if a.model == "" {
		return nil, fmt.Errorf("--model is required (a model folder, .gguf or .zip)")
	}
	if a.out == "" && !a.plan {
		return nil, fmt.Errorf("--out is required (where the expert goes)")
	}
	// What is checked here is checked again inside the WASI build, which
	// says it then: said here too, each line would print twice.
	say := Logf
	if inWasm(a.engine) {
		say = func(string, ...any) {}
	}
	for _, w := range ignoredFlags(fs, &o, &a) {
		say("warning: %s: it has no effect", w)
	}
	if err := formatOfOut(fs, &o.Format, a.out); err != nil {
		return nil, err
	}
	ratios, err := parseRatios(a.ratios)
	if err != nil {
		return nil, err
	}
	o.Defaults()
	o.Ratio = ratios[0]
	if err := o.Validate(nil); err != nil {
		return nil, err
	}
	experts := expertPaths(a.out, ratios)
	if !a.plan {
		for _, e := range experts {
			if err := checkOut(e.Out, a.model); err != nil {
				return nil, err
			}
			if err := checkOut(ReportPath(e.Out), a.model); err != nil && !errors.Is(err, os.ErrExist) && !strings.Contains(err.Error(), "already exists") {
				return nil, err
			}
		}
	}
	for _, c := range o.Corpora {
		if _, err := os.Stat(c); err != nil {
			return nil, fmt.Errorf("--corpus %s: %w", c, err)
		}
		// Read now, so that a bad file stops the job before the model is
		// opened, and say what was read (the job reads it again: corpora
		// are small next to a model).
		docs, err := corpus.ReadFile(c)
		if err != nil {
			return nil, err
		}
		say("corpus %s: %s", c, describeDocs(docs))
	}
	if a.evalData != "" {
		if !a.eval {
			return nil, fmt.Errorf("--eval-data gives held-out text to --eval, which is off")
		}
		docs, err := corpus.ReadFile(a.evalData)
		if err != nil {
			return nil, fmt.Errorf("--eval-data: %w", err)
		}
		if len(docs) == 0 {
			return nil, fmt.Errorf("--eval-data %s holds no document", a.evalData)
		}
		o.EvalData = docs
		say("held-out %s: %s", a.evalData, describeDocs(docs))
	}
	for _, r := range ratios {
		if r == 0 {
			say("warning: --ratio 0 removes nothing: the expert is a re-export of the source")
		}
	}
	if inWasm(a.engine) {
		return WasmRunner("prune", args)
	}
	be, done, err := backend(a.engine)
	if err != nil {
		return nil, err
	}
	defer done()
	folder, err := source.OpenPath(a.model)
	if err != nil {
		return nil, err
	}
	m, tok, err := job.Open(folder)
	if err != nil {
		return nil, err
	}
	if err := o.ValidateRatios(m.Config, ratios); err != nil {
		return nil, err
	}
	if o.Placement == "adaptive" {
		Logf("warning: adaptive placement can keep much less than uniform at the same ratio (tiny-multi, German, 0.3: 0.37 retention against 0.70 for uniform wanda-sp); compare it with --placement uniform before relying on it")
	}
	if a.plan {
		return job.PlanOnly(context.Background(), folder, m, tok, be, o, ratios)
	}

	ctx, stop := interruptible(a.out)
	t0 := time.Now()
	results, err := job.RunOpened(ctx, folder, m, tok, be, o, experts, progressLog())
	if code, ok := stop(); ok && err != nil {
		return nil, &ExitError{Code: code, Msg: "interrupted; nothing written at " + experts[len(results)].Out}
	}
	if err != nil {
		return nil, err
	}
	var hashes map[string]string
	var summaries []*Summary
	for _, res := range results {
		if res.Eval != nil {
			Logf("evaluation took %s (--eval=false skips it)", fmtDuration(res.Seconds["evaluate"]))
		}
		for _, n := range res.Notes {
			Logf("note: %s", n)
		}
		if hashes == nil {
			if hashes, err = job.HashSources(folder); err != nil {
				return nil, err
			}
		}
		rep := Report{Result: res, Command: append([]string{"cusprun", "prune"}, args...), Engine: a.engine,
			Device: deviceName(be), Version: VersionString(), Sources: hashes}
		if err := writeReport(res.Out, rep); err != nil {
			return nil, err
		}
		summaries = append(summaries, summarize(res))
	}
	Logf("done in %s", fmtDuration(time.Since(t0).Seconds()))
	if len(summaries) == 1 {
		return summaries[0], nil
	}
	return map[string]any{"experts": summaries}, nil
}

// Report is report.json: the whole result plus where it came from.
type Report struct {
	*job.Result
	Command []string          `json:"command"`
	Engine  string            `json:"engine"`
	Device  string            `json:"device"`
	Version string            `json:"version"`
	Sources map[string]string `json:"source_sha256"`
}

func writeReport(out string, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	path := ReportPath(out)
	os.Remove(path) // a report of an earlier expert at this path is stale
	if err := export.ToFile(path, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// Summary is what prune prints on stdout: the short story. The plan (every
// kept index) is in report.json only.
type Summary struct {
	Out          string              `json:"out"`
	Report       string              `json:"report"`
	Format       string              `json:"format"`
	Family       string              `json:"family"`
	Method       string              `json:"method"`
	Placement    string              `json:"placement"`
	Quant        string              `json:"quant,omitempty"`
	BytesBefore  int64               `json:"bytes_before"`
	BytesAfter   int64               `json:"bytes_after"`
	Ratio        float64             `json:"ratio"`
	RatioActual  float64             `json:"ratio_actual"`
	ParamsBefore int64               `json:"params_before"`
	ParamsAfter  int64               `json:"params_after"`
	Pruned       job.PerLayer        `json:"pruned"`
	Kept         job.Widths          `json:"kept"`
	Calibration  map[string]int      `json:"calibration"`
	ScoresCached bool                `json:"scores_cached,omitempty"`
	Retention    map[string]float64  `json:"retention,omitempty"`
	Eval         map[string]job.Eval `json:"eval,omitempty"`
	Seconds      map[string]float64  `json:"seconds"`
	Notes        []string            `json:"notes,omitempty"`
}

func summarize(r *job.Result) *Summary {
	s := &Summary{Out: r.Out, Report: ReportPath(r.Out), Format: r.Format, Family: r.Family, Method: r.Method,
		Placement: r.Placement, Quant: r.Quant, BytesBefore: r.BytesBefore, BytesAfter: r.BytesAfter, Ratio: r.Ratio, RatioActual: r.RatioActual, ParamsBefore: r.ParamsBefore,
		ParamsAfter: r.ParamsAfter, Pruned: r.Pruned, Kept: r.Kept, Calibration: r.Calibration, ScoresCached: r.ScoresCached,
		Eval: r.Eval, Seconds: r.Seconds, Notes: r.Notes}
	if len(r.Eval) > 0 {
		s.Retention = map[string]float64{}
		names := make([]string, 0, len(r.Eval))
		for n := range r.Eval {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s.Retention[n] = r.Eval[n].Retention
		}
	}
	return s
}

// deviceName says what the engine runs on, for the report.
func deviceName(be model.Backend) string {
	if d, ok := be.(interface{ DeviceName() string }); ok {
		return d.DeviceName()
	}
	return fmt.Sprintf("%T", be)
}

// ReportPath is where prune writes report.json: beside the output, named
// after it (expert/ -> expert.report.json).
func ReportPath(out string) string {
	out = filepath.Clean(out)
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + ".report.json"
}

// describeDocs says how many documents a corpus holds and their language
// tags: "12 documents (de 12)", or that they have none and so count for
// the target's language.
func describeDocs(docs []corpus.Doc) string {
	n := map[string]int{}
	for _, d := range docs {
		n[corpus.Canonical(d.Language)]++
	}
	var tags []string
	for l, k := range n {
		if l != "" {
			tags = append(tags, fmt.Sprintf("%s %d", l, k))
		}
	}
	sort.Strings(tags)
	s := fmt.Sprintf("%d document", len(docs))
	if len(docs) != 1 {
		s += "s"
	}
	switch {
	case len(tags) == 0:
		return s + ", without a language tag (they count for the target's language)"
	case n[""] > 0:
		tags = append(tags, fmt.Sprintf("%d untagged", n[""]))
	}
	return s + " (" + strings.Join(tags, ", ") + ")"
}
