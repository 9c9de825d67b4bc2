package prune

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestRefitInPartsIsTheWholeRefit: the layers refitted in three parts
// (CompensateOptions.Parts, each part on the plan rebuilt by PlanFor as
// another engine would), saved and added up, are the one-engine refit's
// tensors byte for byte, for a family with the bias and one without; a
// missing part, a part added twice, a part of another calibration text and
// garbage are refused.
func TestRefitInPartsIsTheWholeRefit(t *testing.T) {
	for _, fam := range []string{"llama", "phi"} {
		t.Run(fam, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny", Layers: 4})
			if err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(t.TempDir(), "src")
			if err := synth.WriteHF(src, c, 5, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			m, err := model.OpenPath(src)
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.Layers < 3 {
				t.Fatalf("the test wants at least 3 layers, the model has %d", m.Config.Layers)
			}
			ctx := context.Background()
			seqs := randomSeqs(rand.New(rand.NewPCG(6, 6)), 10, 60, c.Vocab)
			sc, err := Score(ctx, m, model.CPU{}, seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := Select(m.Config, sc.Scores("cusprun", 1), "cusprun", 0.3, "uniform", false)
			if err != nil {
				t.Fatal(err)
			}
			// With the reselection: each part chooses its layers' kept
			// neurons, and the joined refit takes them into the plan.
			plan.SetPool(sc.Scores("cusprun", 1), DefaultPool)
			wplan := *plan
			wplan.KeepFFN = slices.Clone(plan.KeepFFN)
			whole, err := Compensate(ctx, m, model.CPU{}, seqs, &wplan, CompensateOptions{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			joined := NewCompensation(plan)
			var parts [][]byte
			for i := 0; i < n; i++ {
				p, err := PlanFor(m.Config, plan.KeepFFN, plan.KeepGroups, plan.PoolFFN)
				if err != nil {
					t.Fatal(err)
				}
				part, err := Compensate(ctx, m, model.CPU{}, seqs, p, CompensateOptions{Part: i, Parts: n}, nil)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := part.Save(&b); err != nil {
					t.Fatal(err)
				}
				parts = append(parts, b.Bytes())
				if i < n-1 {
					if err := joined.Add(bytes.NewReader(b.Bytes())); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := joined.Complete(); err == nil {
				t.Fatal("two of three parts were taken as the whole refit")
			}
			if err := joined.Add(bytes.NewReader(parts[n-1])); err != nil {
				t.Fatal(err)
			}
			if err := joined.Complete(); err != nil {
				t.Fatal(err)
			}
			for l := range plan.KeepFFN {
				if !slices.Equal(plan.KeepFFN[l], wplan.KeepFFN[l]) {
					t.Fatalf("layer %d: the parts keep neurons %v, one engine %v", l, plan.KeepFFN[l], wplan.KeepFFN[l])
				}
			}
			if len(joined.tensors) != len(whole.tensors) || len(whole.tensors) == 0 {
				t.Fatalf("%d tensors from the parts, %d from one engine", len(joined.tensors), len(whole.tensors))
			}
			for k := range whole.tensors {
				a, _, err := whole.weight(k.layer, k.role)
				if err != nil {
					t.Fatal(err)
				}
				b, ok, err := joined.weight(k.layer, k.role)
				if err != nil || !ok {
					t.Fatalf("layer %d role %d: missing from the parts (%v)", k.layer, k.role, err)
				}
				if a.Name != b.Name || a.DType != b.DType || a.Rows != b.Rows || a.Cols != b.Cols || !bytes.Equal(a.Raw, b.Raw) {
					t.Fatalf("layer %d %s: the parts' refit differs from one engine's", k.layer, a.Name)
				}
			}

			if err := joined.Add(bytes.NewReader(parts[0])); err == nil || !strings.Contains(err.Error(), "another part covered") {
				t.Errorf("a part added twice: error %v", err)
			}
			fewer, err := Compensate(ctx, m, model.CPU{}, seqs[:4], plan, CompensateOptions{Part: 0, Parts: n}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var fb bytes.Buffer
			if err := fewer.Save(&fb); err != nil {
				t.Fatal(err)
			}
			other := NewCompensation(plan)
			if err := other.Add(bytes.NewReader(parts[1])); err != nil {
				t.Fatal(err)
			}
			if err := other.Add(&fb); err == nil || !strings.Contains(err.Error(), "calibration tokens") {
				t.Errorf("a part of other calibration text: error %v", err)
			}
			if err := NewCompensation(plan).Add(strings.NewReader("not a refit")); err == nil {
				t.Error("garbage was read as a part of the refit")
			}
			if _, err := Compensate(ctx, m, model.CPU{}, seqs, plan, CompensateOptions{Part: 3, Parts: n}, nil); err == nil {
				t.Error("part 3 of 3 was refitted")
			}
		})
	}
}

// TestPlanForChecksTheUnits: PlanFor rebuilds a plan from its kept units
// and refuses lists that do not fit the model.
func TestPlanForChecksTheUnits(t *testing.T) {
	c, err := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	ffn := make([][]int, c.Layers)
	groups := make([][]int, c.Layers)
	for l := range ffn {
		ffn[l] = []int{0, 2, c.FFNAt(l) - 1}
		groups[l] = []int{0}
	}
	p, err := PlanFor(c, ffn, groups, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.To.FFNAt(0) != 3 || p.To.KVHeadsAt(0) != 1 {
		t.Fatalf("the rebuilt plan's expert has %d neurons and %d groups in layer 0, want 3 and 1", p.To.FFNAt(0), p.To.KVHeadsAt(0))
	}
	clone := func(x [][]int) [][]int {
		out := make([][]int, len(x))
		for i := range x {
			out[i] = append([]int(nil), x[i]...)
		}
		return out
	}
	for name, mk := range map[string]func(f, g [][]int) ([][]int, [][]int){
		"too few layers":  func(f, g [][]int) ([][]int, [][]int) { return f[:1], g },
		"descending":      func(f, g [][]int) ([][]int, [][]int) { f[0] = []int{2, 0}; return f, g },
		"out of range":    func(f, g [][]int) ([][]int, [][]int) { f[1] = []int{c.FFNAt(1)}; return f, g },
		"no group kept":   func(f, g [][]int) ([][]int, [][]int) { g[0] = nil; return f, g },
		"a repeated unit": func(f, g [][]int) ([][]int, [][]int) { g[0] = []int{0, 0}; return f, g },
	} {
		f, g := mk(clone(ffn), clone(groups))
		if _, err := PlanFor(c, f, g, nil); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
}
