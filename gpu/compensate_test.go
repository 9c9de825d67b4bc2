//go:build !js && !wasip1

package gpu

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestCompensateMatchesCPU runs the compensation pass (prune.Compensate,
// which needs every token's o_proj and down_proj inputs) on the GPU and on
// model.CPU for the same plan, with attention groups and FFN neurons
// removed, and compares the refitted o_proj and down_proj (and phi's
// biases). The refit solves a linear system from float32 activations, so it
// carries the engines' float32 differences times the system's conditioning:
// the tolerance is looser than the statistics'.
func TestCompensateMatchesCPU(t *testing.T) {
	d := device(t)
	be := newOn(d)
	for _, fam := range []string{"llama", "phi"} {
		t.Run(fam, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "m")
			if err := synth.WriteHF(dir, c, 4, tensor.F32, ""); err != nil {
				t.Fatal(err)
			}
			m, err := model.OpenPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(2, 3))
			seqs := make([][]int, 6)
			for i := range seqs {
				for j := 0; j < 48; j++ {
					seqs[i] = append(seqs[i], r.IntN(c.Vocab))
				}
			}
			ctx := context.Background()
			sc, err := prune.Score(ctx, m, model.CPU{}, seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := prune.Select(c, sc.Scores("cusprun", 1), "cusprun", 0.4, "adaptive", false)
			if err != nil {
				t.Fatal(err)
			}
			var got [2]*prune.Slicer
			for i, b := range []model.Backend{model.CPU{}, be} {
				comp, err := prune.Compensate(ctx, m, b, seqs, plan, prune.CompensateOptions{}, nil)
				if err != nil {
					t.Fatalf("%s: %v", b.Name(), err)
				}
				got[i] = &prune.Slicer{M: m, Plan: plan, Refit: comp}
			}
			roles := []model.Role{model.RoleO, model.RoleDown}
			if c.OBias {
				roles = append(roles, model.RoleOB)
			}
			if c.MLPBias {
				roles = append(roles, model.RoleDownB)
			}
			for l := 0; l < c.Layers; l++ {
				for _, role := range roles {
					want, err := got[0].Tensor(role, l)
					if err != nil {
						t.Fatal(err)
					}
					have, err := got[1].Tensor(role, l)
					if err != nil {
						t.Fatal(err)
					}
					e, at := maxRel(have.F32(), want.F32(), 1e-6)
					t.Logf("layer %d %s: max rel difference %.2e", l, want.Name, e)
					if e > 1e-4 {
						t.Errorf("layer %d %s: gpu refit differs from cpu by %.3g (relative) at %d", l, want.Name, e, at)
					}
				}
			}
		})
	}
}
