package job

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Expert is one output of a run: the ratio it is pruned to and its path.
type Expert struct {
	Ratio float64
	Out   string
}

// Run is a whole job on a model folder: score once, then for each expert
// Select, export to a staging place beside its path, Verify tensor by
// tensor, Evaluate (unless NoEval) and Commit, so only a complete,
// verified expert ever appears at a path. Cancelling ctx at any point
// leaves nothing half-written (experts committed before stay).
func Run(ctx context.Context, folder source.Folder, be model.Backend, o Options, experts []Expert, progress prune.Progress) ([]*Result, error) {
	m, tok, err := Open(folder)
	if err != nil {
		return nil, err
	}
	return RunOpened(ctx, folder, m, tok, be, o, experts, progress)
}

// Open reads a model folder's headers and tokenizer (weights stay lazy).
func Open(folder source.Folder) (*model.Model, *tokenizer.Tokenizer, error) {
	m, err := model.Open(folder)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		return nil, nil, fmt.Errorf("the model's tokenizer: %w", err)
	}
	return m, tok, nil
}

// ValidateRatios checks the options at each ratio against the model.
func (o Options) ValidateRatios(c *model.Config, ratios []float64) error {
	for _, r := range ratios {
		p := o
		p.Ratio = r
		p.Defaults()
		if err := p.Validate(c); err != nil {
			return err
		}
	}
	return nil
}

// RunOpened is Run on a model already opened with Open.
func RunOpened(ctx context.Context, folder source.Folder, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, o Options, experts []Expert, progress prune.Progress) ([]*Result, error) {
	if len(experts) == 0 {
		return nil, fmt.Errorf("no output: give at least one ratio and path")
	}
	var ratios []float64
	for _, e := range experts {
		ratios = append(ratios, e.Ratio)
	}
	if err := o.ValidateRatios(m.Config, ratios); err != nil {
		return nil, err
	}
	if o.Compensate && !anyAbove(ratios, 0) {
		o.Compensate = false // only ratio 0: the scoring pass need not keep Gram matrices
	}
	s, err := Score(ctx, folder, m, tok, be, o, progress)
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, e := range experts {
		j, err := s.Select(e.Ratio, progress)
		if err != nil {
			return out, err
		}
		if err := j.compensateIfAsked(ctx, be, progress); err != nil {
			return out, err
		}
		if err := j.Commit(ctx, be, e.Out, progress); err != nil {
			return out, err
		}
		out = append(out, j.Result)
	}
	return out, nil
}

// Commit exports, verifies and (unless NoEval) evaluates the expert, then
// renames it into place at path.
func (j *Job) Commit(ctx context.Context, be model.Backend, path string, progress prune.Progress) error {
	st, err := j.Stage(ctx, path, progress)
	if err != nil {
		return err
	}
	defer st.Abort() // a no-op once committed
	if !j.Options.NoEval {
		expert, err := model.OpenPath(st.Tmp)
		if err != nil {
			return fmt.Errorf("verify: the output does not open: %w", err)
		}
		if err := j.Evaluate(ctx, be, expert, progress); err != nil {
			return err
		}
		if j.Output.Format == "hf" {
			// The folder's card gains the figures just measured.
			c := card(j.Result, j.Options)
			if err := os.WriteFile(filepath.Join(st.Tmp, c.Name), c.Data, 0o644); err != nil {
				return fmt.Errorf("writing the model card: %w", err)
			}
			j.Result.BytesAfter = treeSize(st.Tmp)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := st.Commit(); err != nil {
		return err
	}
	j.Result.Out = path
	return nil
}

// Stage exports the expert to a staging place beside path and verifies it
// tensor by tensor against the plan; Commit renames it into place.
func (j *Job) Stage(ctx context.Context, path string, progress prune.Progress) (*export.Staging, error) {
	t0 := time.Now()
	if progress != nil {
		progress("export", 0, 1)
	}
	out := j.Output
	out.Path = path
	st, err := prune.ExportStaged(j.Slicer, out)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		st.Abort()
		return nil, err
	}
	j.Result.Seconds["export"] = time.Since(t0).Seconds()
	j.Result.Tensors = j.Slicer.Actions
	t0 = time.Now()
	if progress != nil {
		progress("export", 1, 1)
		progress("verify", 0, 1)
	}
	if err := prune.Verify(st.Tmp, j.Slicer); err != nil {
		st.Abort()
		return nil, err
	}
	if progress != nil {
		progress("verify", 1, 1)
	}
	j.Result.Seconds["verify"] = time.Since(t0).Seconds()
	j.Result.BytesAfter = treeSize(st.Tmp)
	return st, nil
}

// Write streams the expert (zip or GGUF) to w. Cancelling ctx makes the
// next write fail; the caller discards what it wrote.
func (j *Job) Write(ctx context.Context, w io.Writer) error {
	cw := &ctxWriter{ctx: ctx, w: w}
	if err := prune.ExportTo(j.Slicer, j.Output, cw); err != nil {
		return err
	}
	j.Result.BytesAfter = cw.n
	return nil
}

// treeSize is the bytes of a file, or of every file under a folder.
func treeSize(path string) int64 {
	var n int64
	filepath.Walk(path, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// folderSize is the bytes of every file of a model folder.
func folderSize(f source.Folder) int64 {
	var n int64
	for _, name := range f.Names() {
		if src, err := f.Open(name); err == nil {
			n += src.Size()
		}
	}
	return n
}

// ctxWriter stops a stream when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	n   int64
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// OpenWritten opens what Write wrote, read back from wherever it was put,
// and checks every tensor against the plan.
func (j *Job) OpenWritten(src source.Source) (*model.Model, error) {
	var f source.Folder
	if j.Output.Format == "zip" {
		z, err := source.OpenZip(src)
		if err != nil {
			return nil, err
		}
		f = z
	} else {
		f = source.Single(src, "expert.gguf")
	}
	out, err := model.Open(f)
	if err != nil {
		return nil, fmt.Errorf("verify: the output does not open: %w", err)
	}
	if err := prune.VerifyModel(out, j.Slicer); err != nil {
		return nil, err
	}
	return out, nil
}

// Evaluate measures the dense model and the expert on the held-out slices
// of the job (Options.HeldOut) and records it in the result, with a note
// when the built-in text lacks part of the target. The dense model's
// figures are kept for the next expert of the same scoring.
func (j *Job) Evaluate(ctx context.Context, be model.Backend, expert *model.Model, progress prune.Progress) error {
	t0 := time.Now()
	o := j.Options
	slices, note, err := o.HeldOut()
	if err != nil {
		return err
	}
	j.note(note)
	dense := Side{Model: j.Model, Tok: j.Tok}
	key := [2]int{o.EvalDocs, o.EvalTokens}
	s := j.scored
	if s != nil && s.dense != nil && s.denseKey == key {
		dense.Known = s.dense
	}
	var cached string
	if s != nil && dense.Known == nil && o.CacheDir != "" && s.Hashes != nil {
		cached = denseCachePath(o.CacheDir, s.Hashes, be, slices, o.EvalTokens)
		dense.Known = loadDense(cached)
	}
	ev, err := EvaluateBeforeAfter(ctx, be, dense, Side{Model: expert, Tok: j.TokAfter}, slices, o.EvalTokens, progress)
	if err != nil {
		return err
	}
	if s != nil && dense.Known == nil {
		s.dense, s.denseKey = map[string]prune.Perplexity{}, key
		for name, e := range ev {
			s.dense[name] = prune.Perplexity{PPL: e.PPLBefore, NLL: math.Log(e.PPLBefore), Tokens: e.Tokens, Docs: e.Docs}
		}
		if cached != "" {
			if err := saveDense(cached, s.dense); err != nil {
				return fmt.Errorf("saving the dense model's evaluation to the cache: %w", err)
			}
		}
	}
	j.Result.Eval = ev
	j.Result.Seconds["evaluate"] = time.Since(t0).Seconds()
	return nil
}

// note adds a note to the result once (Evaluate runs once per expert).
func (j *Job) note(n string) {
	for _, have := range j.Result.Notes {
		if have == n {
			return
		}
	}
	if n != "" {
		j.Result.Notes = append(j.Result.Notes, n)
	}
}

// anyAbove says some ratio is above r.
func anyAbove(ratios []float64, r float64) bool {
	for _, x := range ratios {
		if x > r {
			return true
		}
	}
	return false
}
