package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/job"
	"github.com/cusprun/cusprun/core/source"
)

func init() {
	Register("prune", "prune a model into a language/domain/task expert and export it", runPrune)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// pruneFlags maps prune's flags onto job.Options (whose zero values are
// the defaults, so the flags' defaults are the job's).
func pruneFlags(fs *flag.FlagSet, o *job.Options) (builtin, eval *bool) {
	fs.StringVar(&o.Language, "language", "", "expert language, ISO 639-1 (de, zh, ...), several comma-separated (de,en), or any")
	fs.StringVar(&o.Domain, "domain", "", "expert domain (law, medicine, finance, code, science, general) or any")
	fs.StringVar(&o.Task, "task", "", "expert task (qa, summarization, translation, classification, reasoning) or any")
	fs.Var((*multi)(&o.Corpora), "corpus", "extra calibration JSONL (or plain text) file; repeatable")
	builtin = fs.Bool("builtin", true, "calibrate on the built-in corpora too")
	fs.Float64Var(&o.Ratio, "ratio", 0, fmt.Sprintf("fraction of the decoder's attention+FFN parameters to remove (0 to %v)", job.MaxRatio))
	fs.StringVar(&o.Method, "method", "cusprun", "cusprun, wanda-sp, flap, magnitude or random")
	fs.StringVar(&o.Placement, "placement", "uniform", "uniform (same widths every layer) or adaptive (per-layer; GGUF deci)")
	fs.StringVar(&o.Format, "format", "hf", "hf (folder), zip or gguf")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random baseline")
	fs.IntVar(&o.MaxTokens, "max-tokens", job.DefaultMaxTokens, "cut each calibration and held-out document to this many tokens")
	fs.IntVar(&o.MaxDocs, "max-docs", 0, "use at most this many calibration documents, spread over languages and domains (0: all)")
	eval = fs.Bool("eval", true, "measure perplexity before and after on held-out text")
	fs.IntVar(&o.EvalDocs, "eval-docs", 0, "evaluate on at most this many held-out documents per slice (0: all)")
	fs.StringVar(&o.Vocab, "vocab", "off", "off (keep the vocabulary) or target (keep only the tokens the target's corpora need; docs/VOCAB.md)")
	return builtin, eval
}

func runPrune(args []string) (any, error) {
	fs := newFlags("prune")
	var o job.Options
	path := fs.String("model", "", "model folder, .gguf or .zip")
	out := fs.String("out", "", "output path (must not exist)")
	builtin, eval := pruneFlags(fs, &o)
	eng := engineFlag(fs)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	o.NoBuiltin, o.NoEval = !*builtin, !*eval
	if *path == "" || *out == "" {
		return nil, fmt.Errorf("--model and --out are required")
	}
	o.Defaults()
	if err := o.Validate(nil); err != nil {
		return nil, err
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
	res, err := job.Run(context.Background(), folder, be, o, *out, progressLog())
	if err != nil {
		return nil, err
	}
	rep, _ := json.MarshalIndent(res, "", "  ")
	os.Remove(ReportPath(*out)) // a report of an earlier expert at this path is stale
	if err := export.ToFile(ReportPath(*out), func(w io.Writer) error { _, err := w.Write(append(rep, '\n')); return err }); err != nil {
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
