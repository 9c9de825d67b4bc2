package prune

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// inputs captures, per layer, every token's o_proj and down_proj inputs of
// the dense model, with the statistics the backend computed beside them.
type inputs struct {
	z, a  [][]float64 // per layer, [tokens][width]
	stats []*model.Stats
}

func captureInputs(t *testing.T, m *model.Model, seqs [][]int) *inputs {
	t.Helper()
	c := m.Config
	in := &inputs{z: make([][]float64, c.Layers), a: make([][]float64, c.Layers), stats: make([]*model.Stats, c.Layers)}
	for _, b := range Batches(seqs, BatchTokensFor(c)) {
		pb := model.Pack(b)
		h, err := m.Embed(pb.IDs)
		if err != nil {
			t.Fatal(err)
		}
		s, err := model.CPU{}.Start(c, h, pb.Docs)
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < c.Layers; l++ {
			L, err := m.LoadLayer(l)
			if err != nil {
				t.Fatal(err)
			}
			st := model.NewStats(L, c.HeadDim, len(b))
			st.OInputs = func(z []float32, n int) {
				for _, v := range z {
					in.z[l] = append(in.z[l], float64(v))
				}
			}
			st.DownInputs = func(a []float32, n int) {
				for _, v := range a {
					in.a[l] = append(in.a[l], float64(v))
				}
			}
			if err := (model.CPU{}).Layer(s, L, st); err != nil {
				t.Fatal(err)
			}
			if in.stats[l] == nil {
				in.stats[l] = st
			} else {
				for k := range st.FFNSq {
					in.stats[l].FFNSq[k] += st.FFNSq[k]
				}
				for k := range st.OSq {
					in.stats[l].OSq[k] += st.OSq[k]
				}
			}
		}
	}
	return in
}

// solveDense solves A x = b by Gaussian elimination with partial pivoting
// (A is copied): the textbook method, independent of the Cholesky path.
func solveDense(A0 [][]float64, b0 []float64) []float64 {
	n := len(b0)
	A := make([][]float64, n)
	for i := range A {
		A[i] = append(append([]float64(nil), A0[i]...), b0[i])
	}
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(A[r][col]) > math.Abs(A[p][col]) {
				p = r
			}
		}
		A[col], A[p] = A[p], A[col]
		for r := col + 1; r < n; r++ {
			f := A[r][col] / A[col][col]
			for j := col; j <= n; j++ {
				A[r][j] -= f * A[col][j]
			}
		}
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := A[i][n]
		for j := i + 1; j < n; j++ {
			s -= A[i][j] * x[j]
		}
		x[i] = s / A[i][i]
	}
	return x
}

// expectRefit re-derives the refitted weight of one projection from the
// captured inputs X ([tokens, cols]) by the normal equations written out
// directly: per output row i, (X_Kᵀ X_K + λI) w'_i = X_Kᵀ X w_i + λ w_iK, with the
// inputs centred first when the projection has a bias (b' = b + W μ −
// W'_K μ_K), λ = ridge × mean of the kept block's diagonal.
func expectRefit(X []float64, cols int, W *model.Weight, B *model.Weight, keep []int, ridge float64) ([][]float64, []float64) {
	n := len(X) / cols
	if len(keep) == cols {
		// Nothing removed: nothing to refit, the weights stay as they are.
		out := make([][]float64, W.Rows)
		for i := range out {
			for j := 0; j < cols; j++ {
				out[i] = append(out[i], float64(W.F32()[i*cols+j]))
			}
		}
		var bias []float64
		if B != nil {
			for _, v := range B.F32() {
				bias = append(bias, float64(v))
			}
		}
		return out, bias
	}
	mu := make([]float64, cols)
	if B != nil {
		for t := 0; t < n; t++ {
			for j := 0; j < cols; j++ {
				mu[j] += X[t*cols+j] / float64(n)
			}
		}
	}
	x := func(t, j int) float64 { return X[t*cols+j] - mu[j] }
	k := len(keep)
	A := make([][]float64, k)
	diag := 0.0
	for a := range A {
		A[a] = make([]float64, k)
		for b := range A[a] {
			for t := 0; t < n; t++ {
				A[a][b] += x(t, keep[a]) * x(t, keep[b])
			}
		}
		diag += A[a][a]
	}
	lambda := ridge * diag / float64(k)
	for a := range A {
		A[a][a] += lambda
	}
	wf := W.F32()
	out := make([][]float64, W.Rows)
	for i := range out {
		// y_t = sum_j x_tj W_ij: the full output on the calibration tokens;
		// the ridge pulls toward the original weights (+ λ w_iK).
		rhs := make([]float64, k)
		for a, j := range keep {
			rhs[a] = lambda * float64(wf[i*cols+j])
		}
		for t := 0; t < n; t++ {
			y := 0.0
			for j := 0; j < cols; j++ {
				y += x(t, j) * float64(wf[i*cols+j])
			}
			for a := range rhs {
				rhs[a] += x(t, keep[a]) * y
			}
		}
		out[i] = solveDense(A, rhs)
	}
	if B == nil {
		return out, nil
	}
	bias := make([]float64, W.Rows)
	for i := range bias {
		bias[i] = float64(B.F32()[i])
		for j := 0; j < cols; j++ {
			bias[i] += float64(wf[i*cols+j]) * mu[j]
		}
		for a, j := range keep {
			bias[i] -= out[i][a] * mu[j]
		}
	}
	return out, bias
}

// TestCompensateExportsTheLeastSquaresRefit prunes small synthetic models
// (llama without biases, phi with fc2 and dense biases) with compensation,
// exports them, and checks every layer's o_proj and down_proj (and biases)
// in the written file against the refit re-derived from the dense model's
// activations by plain normal equations. It also checks that the refit
// lowers the error of each projection's output on the calibration tokens
// against plain slicing, which is what it is for.
func TestCompensateExportsTheLeastSquaresRefit(t *testing.T) {
	for _, fam := range []string{"llama", "phi"} {
		t.Run(fam, func(t *testing.T) {
			c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := synth.WriteHF(src, c, 3, tensor.F32, ""); err != nil {
				t.Fatal(err)
			}
			m, err := model.OpenPath(src)
			if err != nil {
				t.Fatal(err)
			}
			seqs := randomSeqs(rand.New(rand.NewPCG(5, 5)), 6, 40, c.Vocab)
			sc, err := Score(context.Background(), m, model.CPU{}, seqs, nil)
			if err != nil {
				t.Fatal(err)
			}
			// At 0.35 fewer inputs are removed than the projections have
			// outputs, at 0.6 more: refitCols solves for whichever is fewer.
			for _, ratio := range []float64{0.35, 0.6} {
				plan, err := Select(c, sc.Scores("cusprun", 1), "cusprun", ratio, "uniform", false)
				if err != nil {
					t.Fatal(err)
				}
				f, err := os.CreateTemp(dir, "spill")
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				const ridge = 0.05
				comp, err := Compensate(context.Background(), m, model.CPU{}, seqs, plan, CompensateOptions{Ridge: ridge, Spill: f}, nil)
				if err != nil {
					t.Fatal(err)
				}
				folder, _ := source.OpenPath(src)
				out := filepath.Join(dir, fmt.Sprintf("out-%g", ratio))
				sl := &Slicer{M: m, Plan: plan, Source: folder, Refit: comp}
				if err := Export(sl, Output{Path: out, Format: "hf", Files: SmallFiles(folder)}); err != nil {
					t.Fatal(err)
				}
				if err := Verify(out, sl); err != nil {
					t.Fatal(err)
				}
				pm, err := model.OpenPath(out)
				if err != nil {
					t.Fatal(err)
				}
				in := captureInputs(t, m, seqs)
				kept := 0 // projections that lost no input
				defer func() { t.Logf("ratio %g: %d projections kept all their inputs", ratio, kept) }()
				for l := 0; l < c.Layers; l++ {
					L, _ := m.LoadLayer(l)
					P, err := pm.LoadLayer(l)
					if err != nil {
						t.Fatal(err)
					}
					st := in.stats[l]
					// The captured inputs are the ones the statistics summed.
					checkSq(t, l, "down_proj", in.a[l], L.FFN, st.FFNSq)
					checkSq(t, l, "o_proj", in.z[l], L.Heads*c.HeadDim, st.OSq)
					qr := dims(keptHeads(plan.KeepGroups[l], c.Group()), c.HeadDim)
					for _, pr := range []struct {
						name       string
						X          []float64
						W, B, P, Q *model.Weight
						keep       []int
					}{
						{"o_proj", in.z[l], L.O, L.OB, P.O, P.OB, qr},
						{"down_proj", in.a[l], L.Down, L.DownB, P.Down, P.DownB, plan.KeepFFN[l]},
					} {
						cols := pr.W.Cols
						if len(pr.keep) == cols {
							// Nothing removed: the source's bytes, bias too.
							kept++
							if !bytes.Equal(pr.P.Raw, pr.W.Raw) || pr.B != nil && !bytes.Equal(pr.Q.Raw, pr.B.Raw) {
								t.Errorf("layer %d %s: nothing was removed, yet the export differs from the source", l, pr.name)
							}
							continue
						}
						want, wantB := expectRefit(pr.X, cols, pr.W, pr.B, pr.keep, ridge)
						got := pr.P.F32()
						k := len(pr.keep)
						scale, worst := 0.0, 0.0
						for i := range want {
							for a := range want[i] {
								scale = math.Max(scale, math.Abs(want[i][a]))
								worst = math.Max(worst, math.Abs(want[i][a]-float64(got[i*k+a])))
							}
						}
						if worst > 1e-4*scale {
							t.Errorf("layer %d %s: exported weights differ from the re-derived refit by %.3g (scale %.3g)", l, pr.name, worst, scale)
						}
						if (pr.B != nil) != (wantB != nil) || (pr.B != nil) != (pr.Q != nil) {
							t.Fatalf("layer %d %s: bias presence differs", l, pr.name)
						}
						for i, v := range wantB {
							if d := math.Abs(v - float64(pr.Q.F32()[i])); d > 1e-4*(1+math.Abs(v)) {
								t.Errorf("layer %d %s bias %d: exported %g, re-derived %g", l, pr.name, i, pr.Q.F32()[i], v)
								break
							}
						}
						// The refit reproduces the full output better than slicing.
						sliced := outputErr(pr.X, cols, pr.W, pr.B, pr.keep, pr.W.SelectCols(pr.keep), compensateMean(pr.B, pr.W, pr.X, pr.keep))
						refit := outputErr(pr.X, cols, pr.W, pr.B, pr.keep, pr.P, pr.Q)
						if len(pr.keep) < cols && !(refit < sliced) {
							t.Errorf("layer %d %s: refit output error %.4g is not below plain slicing's %.4g", l, pr.name, refit, sliced)
						}
						t.Logf("ratio %g layer %d %s (%d of %d inputs kept): output error %.4g sliced, %.4g refit; max |Δw| %.2g of %.2g",
							ratio, l, pr.name, len(pr.keep), cols, sliced, refit, worst, scale)
					}
				}
			}
		})
	}
}

// compensateMean is FLAP's bias (b + W_R μ_R) for plain slicing with a
// bias, so the comparison gives slicing its best intercept too.
func compensateMean(b, w *model.Weight, X []float64, keep []int) *model.Weight {
	if b == nil {
		return nil
	}
	n := len(X) / w.Cols
	mu := make([]float64, w.Cols)
	for t := 0; t < n; t++ {
		for j := range mu {
			mu[j] += X[t*w.Cols+j] / float64(n)
		}
	}
	return compensate(b, w, mu, keep)
}

// outputErr is the summed squared difference between the full projection
// X Wᵀ + b and the pruned one X_K W'ᵀ + b' over the captured tokens.
func outputErr(X []float64, cols int, W, B *model.Weight, keep []int, P, Q *model.Weight) float64 {
	n := len(X) / cols
	wf, pf := W.F32(), P.F32()
	k := len(keep)
	e := 0.0
	for t := 0; t < n; t++ {
		for i := 0; i < W.Rows; i++ {
			y, yp := 0.0, 0.0
			for j := 0; j < cols; j++ {
				y += X[t*cols+j] * float64(wf[i*cols+j])
			}
			for a, j := range keep {
				yp += X[t*cols+j] * float64(pf[i*k+a])
			}
			if B != nil {
				y += float64(B.F32()[i])
				yp += float64(Q.F32()[i])
			}
			e += (y - yp) * (y - yp)
		}
	}
	return e
}

func checkSq(t *testing.T, l int, what string, X []float64, cols int, sq []float64) {
	t.Helper()
	n := len(X) / cols
	for j := 0; j < cols; j++ {
		s := 0.0
		for i := 0; i < n; i++ {
			s += X[i*cols+j] * X[i*cols+j]
		}
		if math.Abs(s-sq[j]) > 1e-4*(1+sq[j]) {
			t.Fatalf("layer %d %s input %d: captured inputs square-sum to %g, the statistics say %g", l, what, j, s, sq[j])
		}
	}
}

// TestCholSolveMatchesElimination checks the blocked factorisation and
// solves on a random positive definite system larger than several blocks
// (and not a multiple of one) against Gaussian elimination.
func TestCholSolveMatchesElimination(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	n, m := 2*cholBlock+37, 5
	X := make([][]float64, n+20)
	for i := range X {
		X[i] = make([]float64, n)
		for j := range X[i] {
			X[i][j] = r.NormFloat64()
		}
	}
	G := make([][]float64, n)
	A := make([]float64, n*n)
	for i := range G {
		G[i] = make([]float64, n)
		for j := range G[i] {
			for _, x := range X {
				G[i][j] += x[i] * x[j]
			}
			A[i*n+j] = G[i][j]
		}
	}
	B := make([]float64, m*n)
	for i := range B {
		B[i] = r.NormFloat64()
	}
	want := make([][]float64, m)
	for k := range want {
		want[k] = solveDense(G, B[k*n:(k+1)*n])
	}
	if err := cholesky(A, n, n); err != nil {
		t.Fatal(err)
	}
	cholSolve(A, n, n, B, m)
	worst := 0.0
	for k := range want {
		for i, v := range want[k] {
			worst = math.Max(worst, math.Abs(B[k*n+i]-v)/(1+math.Abs(v)))
		}
	}
	if worst > 1e-9 {
		t.Errorf("blocked Cholesky solve differs from elimination by %.3g", worst)
	}
	// A matrix that is not positive definite is refused.
	bad := make([]float64, 4)
	bad[0], bad[1], bad[2], bad[3] = 1, 2, 2, 1
	if err := cholesky(bad, 2, 2); err == nil {
		t.Error("an indefinite matrix was factored")
	}
}
