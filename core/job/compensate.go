package job

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Compensate refits the planned expert's o_proj and down_proj by least
// squares on the calibration sequences (prune.Compensate, Options.Compensate)
// and makes the slicer export the refitted weights. It is a second pass
// over the calibration text, layer by layer, unless the scoring pass kept
// the Gram matrices (score in score.go), which leaves only the solves.
// Where the platform has a temporary directory the refitted matrices wait
// there for the export (memory stays one layer's weights and Gram matrices
// plus the calibration hidden states); in the browser they stay in memory.
func (j *Job) Compensate(ctx context.Context, be model.Backend, seqs [][]int, progress prune.Progress) error {
	t0 := time.Now()
	opt := prune.CompensateOptions{Spill: refitSpill()}
	if j.scored != nil && j.scored.grams != nil && sameSeqs(seqs, j.scored.seqs) {
		opt.Grams = j.scored.grams // the scoring pass kept the Gram matrices: no second pass
	}
	comp, err := prune.Compensate(ctx, j.Model, be, seqs, j.Plan, opt, progress)
	if err != nil {
		return err
	}
	j.Slicer.Refit = comp
	if j.Result != nil {
		j.Result.Refit = "own pass"
		if opt.Grams != nil && comp.PassSeconds == 0 {
			j.Result.Refit = "from scoring"
		}
		if j.Result.Seconds != nil {
			j.Result.Seconds["compensate"] = time.Since(t0).Seconds()
		}
	}
	return nil
}

// sameSeqs says a and b are the same sequences (the same slices, as the
// job passes them, or equal ones).
func sameSeqs(a, b [][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for k := range a[i] {
			if a[i][k] != b[i][k] {
				return false
			}
		}
	}
	return true
}

// compensateIfAsked runs Compensate when the options ask for it, on the
// sequences the job was scored on.
func (j *Job) compensateIfAsked(ctx context.Context, be model.Backend, progress prune.Progress) error {
	if !j.Options.Compensate || j.Slicer.Refit != nil {
		return nil
	}
	if j.Options.RefitApart {
		j.Result.Refit = "apart" // RefitPart and UseRefit do it
		return nil
	}
	return j.Compensate(ctx, be, j.scored.seqs, progress)
}

// RefitPart refits part i of n of the layers of plan (every n-th layer:
// prune.CompensateOptions.Parts) on the job's calibration sequences, all
// of them: n engines that each refit a part, joined by UseRefit, make the
// refit one engine makes, bit for bit. The page's CPU workers share the
// refit of a model too large for the in-memory matrices so (Options.RefitApart).
func RefitPart(ctx context.Context, m *model.Model, tok *tokenizer.Tokenizer, be model.Backend, o Options, plan *prune.Plan, i, n int, progress prune.Progress) (*prune.Compensation, error) {
	seqs, err := o.partCalibration(m.Config, tok, i, n)
	if err != nil {
		return nil, err
	}
	return prune.Compensate(ctx, m, be, seqs, plan, prune.CompensateOptions{Part: i, Parts: n, Spill: refitSpill()}, progress)
}

// refitSpill is a temporary file for the refitted tensors, unlinked at
// once where the OS allows (the open file is enough, and nothing stays
// behind however the job ends); nil where there are no temporary files
// (the browser), which keeps them in memory. (An interface, not *os.File:
// a nil file in the options' interface field would not be nil.)
func refitSpill() interface {
	io.WriterAt
	io.ReaderAt
} {
	f, err := os.CreateTemp("", "cusprun-refit-*")
	if err != nil {
		return nil
	}
	os.Remove(f.Name())
	return f
}

// UseRefit makes the job export the refit joined from its parts (a
// prune.NewCompensation of the job's plan with every part added); seconds
// is how long the parts took, for Result.Seconds.
func (j *Job) UseRefit(comp *prune.Compensation, parts int, seconds float64) error {
	if j.Result == nil || j.Result.Refit != "apart" {
		return fmt.Errorf("this job's refit is not waiting for parts")
	}
	if !comp.For(j.Plan) {
		return fmt.Errorf("the refit's parts are for another plan than the job's")
	}
	if err := comp.Complete(); err != nil {
		return err
	}
	j.Slicer.Refit = comp
	j.Result.Refit = fmt.Sprintf("own pass, %d parts", parts)
	if j.Result.Seconds != nil {
		j.Result.Seconds["compensate"] = seconds
	}
	return nil
}

// removesUnits says the plan removes at least one FFN neuron or attention
// group somewhere (at ratio 0 it removes none).
func removesUnits(p *prune.Plan) bool {
	for l := range p.KeepFFN {
		if len(p.KeepFFN[l]) < p.From.FFNAt(l) || len(p.KeepGroups[l]) < p.From.KVHeadsAt(l) {
			return true
		}
	}
	return false
}
