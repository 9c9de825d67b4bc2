package job

import (
	"context"
	"os"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
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
	opt := prune.CompensateOptions{}
	if f, err := os.CreateTemp("", "cusprun-refit-*"); err == nil {
		// Unlinked at once where the OS allows: the open file is enough,
		// and nothing stays behind however the job ends.
		os.Remove(f.Name())
		opt.Spill = f
	}
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
	return j.Compensate(ctx, be, j.scored.seqs, progress)
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
