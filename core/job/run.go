package job

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Run is a whole job on a model folder: Plan, then Export to a staging
// place beside out, Verify it tensor by tensor, Evaluate it (unless
// NoEval), and Commit: only a complete, verified expert ever appears at
// out. Cancelling ctx at any point leaves nothing behind.
func Run(ctx context.Context, folder source.Folder, be model.Backend, o Options, out string, progress prune.Progress) (*Result, error) {
	m, err := model.Open(folder)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(folder)
	if err != nil {
		return nil, fmt.Errorf("the model's tokenizer: %w", err)
	}
	j, err := Plan(ctx, folder, m, tok, be, o, progress)
	if err != nil {
		return nil, err
	}
	st, err := j.Stage(ctx, out, progress)
	if err != nil {
		return nil, err
	}
	defer st.Abort() // a no-op once committed
	if !j.Options.NoEval {
		expert, err := model.OpenPath(st.Tmp)
		if err != nil {
			return nil, fmt.Errorf("verify: the output does not open: %w", err)
		}
		if err := j.Evaluate(ctx, be, expert, progress); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := st.Commit(); err != nil {
		return nil, err
	}
	j.Result.Out = out
	return j.Result, nil
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
	return st, nil
}

// Write streams the expert (zip or GGUF) to w. Cancelling ctx makes the
// next write fail; the caller discards what it wrote.
func (j *Job) Write(ctx context.Context, w io.Writer) error {
	return prune.ExportTo(j.Slicer, j.Output, &ctxWriter{ctx: ctx, w: w})
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

// Evaluate measures the dense model and the expert on the built-in
// held-out slices of the job's target and records it in the result.
func (j *Job) Evaluate(ctx context.Context, be model.Backend, expert *model.Model, progress prune.Progress) error {
	t0 := time.Now()
	slices, err := HeldOut(j.Options.Target(), j.Options.EvalDocs)
	if err != nil {
		return err
	}
	ev, err := EvaluateBeforeAfter(ctx, be, Side{Model: j.Model, Tok: j.Tok}, Side{Model: expert, Tok: j.TokAfter}, slices, j.Options.EvalTokens, progress)
	if err != nil {
		return err
	}
	j.Result.Eval = ev
	j.Result.Seconds["evaluate"] = time.Since(t0).Seconds()
	return nil
}
