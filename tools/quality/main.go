// Command quality measures what pruning keeps: for the trained tiny-multi
// model (../shared/models/tiny-multi), a German, a Chinese and a code-domain
// expert are pruned by Cus-Prun and by each baseline at several ratios,
// calibrated on ../shared/corpora/calib and evaluated on ../shared/corpora/dev
// (which neither training nor calibration saw). It prints a Markdown table of
// perplexity retention (dense ppl / pruned ppl) on the expert slice and on a
// general mix. Each pruned model is really exported and re-opened.
//
//	go run ./tools/quality [-shared ../shared] [-calib-docs 64] [-eval-docs 24]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cusprun/cusprun/core/corpus"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

var ffnOnly bool

// expert is one row group of the table: calibration and held-out text are
// the first documents of the named files (an equal share of each).
type expert struct {
	key, name string
	files     []string
}

var experts = []expert{
	{"de", "German (language de)", []string{"lang-de.jsonl"}},
	{"zh", "Chinese (language zh)", []string{"lang-zh.jsonl"}},
	{"code", "code (domain code)", []string{"domain-code.jsonl"}},
	{"fr", "French (language fr)", []string{"lang-fr.jsonl"}},
	{"ru", "Russian (language ru)", []string{"lang-ru.jsonl"}},
	{"legal", "legal (domain law)", []string{"domain-legal.jsonl"}},
	{"de+legal", "German+legal (de, law)", []string{"lang-de.jsonl", "domain-legal.jsonl"}},
}

// column is a method, with or without least-squares compensation.
type column struct {
	method     string
	compensate bool
	pool       float64 // experimental: reselect among pool × count candidates (prune.Plan.SetPool)
	aware      bool    // experimental: refit-aware Cus-Prun ranking (prune.CompensateOptions.Aware)
	rounds     int     // its rounds (+awareN)
}

// key names a column as -columns and -compare spell it, without spaces.
func (c column) key() string { return columnKey(c.String()) }

func columnKey(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), " ", "") }

func (c column) String() string {
	switch {
	case c.pool > 0:
		return fmt.Sprintf("%s +obs%g", c.method, c.pool)
	case c.aware && c.rounds > 1:
		return fmt.Sprintf("%s +aware%d", c.method, c.rounds)
	case c.aware:
		return c.method + " +aware"
	case c.compensate:
		return c.method + " +comp"
	}
	return c.method
}

var columns = []column{
	{"cusprun", true, 0, false, 0}, {"cusprun", false, 0, false, 0}, {"wanda-sp", true, 0, false, 0}, {"wanda-sp", false, 0, false, 0},
	{"flap", false, 0, false, 0}, {"magnitude", false, 0, false, 0}, {"random", false, 0, false, 0},
}

func main() {
	shared := flag.String("shared", "../shared", "the shared folder (models/, corpora/)")
	calibDocs := flag.Int("calib-docs", 64, "calibration documents per expert")
	evalDocs := flag.Int("eval-docs", 24, "held-out documents per slice")
	maxTokens := flag.Int("max-tokens", 256, "tokens per document (BOS included)")
	ratiosFlag := flag.String("ratios", "0.1,0.2,0.3,0.4", "prune ratios")
	placement := flag.String("placement", "uniform", "uniform or adaptive")
	flag.BoolVar(&ffnOnly, "ffn-only", false, "prune FFN neurons only, keeping every attention group")
	only := flag.String("experts", "", "comma-separated expert keys to run (de,zh,code,fr,ru,legal,de+legal; default all)")
	cols := flag.String("columns", "", "comma-separated columns to run: a method, METHOD+comp (refitted), METHOD+obsN (refitted, removed neurons rechosen among N x count candidates), METHOD+awareN (refitted, FFN neurons rechosen by the refit-aware Cus-Prun rule in N rounds) or cusprun:RULE (see core/prune/variants.go); default all")
	flag.BoolVar(&onePass, "onepass", false, "score with prune.ScoreWithGrams and refit the +comp columns from the kept Gram matrices (the CLI's route), not by a second pass")
	flag.Float64Var(&ridge, "ridge", 0, "compensation ridge relative to the mean Gram diagonal (0: prune.DefaultRidge)")
	flag.StringVar(&compare, "compare", "", "two columns A,B (as in -columns): after the table, a paired bootstrap over the held-out documents of A's expert retention minus B's, per row")
	flag.Parse()
	if *only != "" {
		var keep []expert
		for _, k := range strings.Split(*only, ",") {
			for _, e := range experts {
				if e.key == k {
					keep = append(keep, e)
				}
			}
		}
		experts = keep
	}
	if *cols != "" {
		// Any method name, experimental rank rules (cusprun:mean, ...) too.
		var keep []column
		for _, k := range strings.Split(*cols, ",") {
			// "cusprun +comp" and "cusprun+comp" alike (QUALITY_ARGS cannot quote spaces).
			m, comp := strings.CutSuffix(strings.TrimSpace(k), "+comp")
			rounds, aware := 0, false
			if i := strings.Index(m, "+aware"); i >= 0 {
				fmt.Sscan(m[i+len("+aware"):], &rounds)
				m, aware = m[:i], true
			}
			comp = comp || aware
			var pool float64
			if i := strings.Index(m, "+obs"); i >= 0 {
				fmt.Sscan(m[i+len("+obs"):], &pool)
				m, comp = m[:i], true
			}
			m = strings.TrimSpace(m)
			keep = append(keep, column{m, comp, pool, aware, rounds})
			if strings.HasPrefix(m, "cusprun:") {
				prune.ExperimentRanks = true
			}
		}
		columns = keep
	}
	var ratios []float64
	for _, r := range strings.Split(*ratiosFlag, ",") {
		var v float64
		fmt.Sscan(r, &v)
		ratios = append(ratios, v)
	}
	if err := run(*shared, *calibDocs, *evalDocs, *maxTokens, ratios, *placement); err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}

var ridge float64

// compare names two columns whose expert retentions are bootstrapped.
var compare string

// onePass: scores and Gram matrices in one pass, as the CLI does.
var onePass bool

// readFiles takes the first n documents of the files together, an equal
// share of each.
func readFiles(dir string, files []string, n int) ([]corpus.Doc, error) {
	var out []corpus.Doc
	for _, f := range files {
		d, err := readDocs(filepath.Join(dir, f), n/len(files))
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}

func readDocs(path string, n int) ([]corpus.Doc, error) {
	d, err := corpus.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return d[:min(n, len(d))], nil
}

func run(shared string, calibDocs, evalDocs, maxTokens int, ratios []float64, placement string) error {
	ctx := context.Background()
	mpath := filepath.Join(shared, "models", "tiny-multi")
	folder, err := source.OpenPath(mpath)
	if err != nil {
		return err
	}
	dense, err := model.Open(folder)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		return err
	}
	be := model.CPU{}
	devDir := filepath.Join(shared, "corpora", "dev")
	// General slice: an equal share of every held-out file.
	files, _ := filepath.Glob(filepath.Join(devDir, "*.jsonl"))
	var general []corpus.Doc
	per := max(1, evalDocs/len(files))
	for _, f := range files {
		d, err := readDocs(f, per)
		if err != nil {
			return err
		}
		general = append(general, d...)
	}
	genSeqs := prune.Tokenize(tok, general, maxTokens)
	denseGen, err := prune.Evaluate(ctx, dense, be, genSeqs, nil)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "cusprun-quality-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	var boot []string // the -compare rows
	fmt.Printf("Model tiny-multi (%s); %s placement; calibration: first %d docs of the expert's calib file, %d tokens each at most; "+
		"evaluation: first %d docs of the expert's dev file and a general mix of %d dev docs (%d tokens).\n\n",
		mpath, placement, calibDocs, maxTokens, evalDocs, len(general), denseGen.Tokens)
	fmt.Printf("Each cell: expert retention / general retention (dense ppl / pruned ppl; higher is better, 1 = unchanged). Best expert retention per row in bold.\n\n")
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.String()
	}
	fmt.Printf("| expert | ratio | %s |\n|---|---|%s\n", strings.Join(names, " | "), strings.Repeat("---|", len(columns)))
	for _, e := range experts {
		calib, err := readFiles(filepath.Join(shared, "corpora", "calib"), e.files, calibDocs)
		if err != nil {
			return err
		}
		devDocs, err := readFiles(devDir, e.files, evalDocs)
		if err != nil {
			return err
		}
		expSeqs := prune.Tokenize(tok, devDocs, maxTokens)
		denseDocs, denseExp, err := evaluateDocs(ctx, dense, be, expSeqs)
		if err != nil {
			return err
		}
		calibSeqs := prune.Tokenize(tok, calib, maxTokens)
		var sc *prune.Scorer
		var grams *prune.Grams
		if onePass {
			spill, err := os.CreateTemp(tmp, "grams")
			if err != nil {
				return err
			}
			defer spill.Close()
			if sc, grams, err = prune.ScoreWithGrams(ctx, dense, be, calibSeqs, spill, nil); err != nil {
				return err
			}
		} else if sc, err = prune.Score(ctx, dense, be, calibSeqs, nil); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: dense ppl expert %.2f, general %.2f\n", e.name, denseExp.PPL, denseGen.PPL)
		for _, ratio := range ratios {
			cells := make([]string, len(columns))
			losses := map[string]docLoss{}
			best, bestI := 0.0, -1
			for i, col := range columns {
				method := col.method
				scores := sc.Scores(method, 1)
				plan, err := prune.Select(dense.Config, scores, method, ratio, placement, ffnOnly)
				if err != nil {
					cells[i] = "n/a"
					continue
				}
				out := filepath.Join(tmp, fmt.Sprintf("%s-%g-%s-%v", e.key, ratio, method, col.compensate))
				format := "hf"
				if placement == "adaptive" {
					format, out = "gguf", out+".gguf"
				}
				sl := &prune.Slicer{M: dense, Plan: plan, Source: folder}
				if method == "flap" {
					sl.Compensate = func(l int) ([]float64, []float64) { return sc.FFNMean(l), sc.OMean(l) }
				}
				if col.compensate {
					plan.SetPool(scores, col.pool)
					if sl.Refit, err = prune.Compensate(ctx, dense, be, calibSeqs, plan, prune.CompensateOptions{Ridge: ridge, Aware: col.aware, AwareRounds: col.rounds, Grams: grams}, nil); err != nil {
						return err
					}
				}
				o := prune.Output{Path: out, Format: format, Files: prune.SmallFiles(folder)}
				if format == "gguf" {
					return fmt.Errorf("adaptive placement needs a GGUF vocabulary for tiny-multi's tokenizer.json")
				}
				if err := prune.Export(sl, o); err != nil {
					return err
				}
				pm, err := model.OpenPath(out)
				if err != nil {
					return err
				}
				dl, pe, err := evaluateDocs(ctx, pm, be, expSeqs)
				if err != nil {
					return err
				}
				losses[col.key()] = dl
				pg, err := prune.Evaluate(ctx, pm, be, genSeqs, nil)
				if err != nil {
					return err
				}
				os.RemoveAll(out)
				re, rg := denseExp.PPL/pe.PPL, denseGen.PPL/pg.PPL
				cells[i] = fmt.Sprintf("%.3f / %.3f", re, rg)
				if re > best {
					best, bestI = re, i
				}
				fmt.Fprintf(os.Stderr, "  %s ratio %g %s: expert ppl %.2f (ret %.3f), general ppl %.2f (ret %.3f)\n", e.name, ratio, col, pe.PPL, re, pg.PPL, rg)
			}
			if bestI >= 0 {
				cells[bestI] = "**" + cells[bestI] + "**"
			}
			fmt.Printf("| %s | %g | %s |\n", e.name, ratio, strings.Join(cells, " | "))
			if compare != "" {
				ab := strings.Split(compare, ",")
				a, okA := losses[columnKey(ab[0])]
				b, okB := losses[columnKey(ab[len(ab)-1])]
				if len(ab) != 2 || !okA || !okB {
					return fmt.Errorf("-compare %q: want two of the columns run", compare)
				}
				d, lo, hi, ahead := pairedBootstrap(denseDocs, a, b, 10000, 1)
				boot = append(boot, fmt.Sprintf("| %s | %g | %+.4f | [%+.4f, %+.4f] | %.0f%% |", e.name, ratio, d, lo, hi, 100*ahead))
			}
		}
	}
	if compare != "" {
		ab := strings.Split(compare, ",")
		fmt.Printf("\nPaired bootstrap over the %d held-out expert documents (10000 resamples, seed 1): expert retention of %s minus %s.\n\n", evalDocs, ab[0], ab[1])
		fmt.Printf("| expert | ratio | difference | 95%% interval | resamples where %s keeps more |\n|---|---|---|---|---|\n", ab[0])
		for _, l := range boot {
			fmt.Println(l)
		}
	}
	fmt.Printf("\nDense perplexity on the general mix: %.2f. Took %s.\n", denseGen.PPL, time.Since(start).Round(time.Second))
	return nil
}
