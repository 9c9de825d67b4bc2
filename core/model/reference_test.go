package model_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// reference is a deliberately naive float64 forward pass written from the
// Hugging Face modelling code's equations, one token and one head at a time,
// with no shared kernels: the engine's batched float32 pass must match it.
func reference(t *testing.T, m *model.Model, ids []int) [][]float64 {
	c := m.Config
	H, hd, n := c.Hidden, c.HeadDim, len(ids)
	f64 := func(w *model.Weight) []float64 {
		if w == nil {
			return nil
		}
		out := make([]float64, len(w.F32()))
		for i, v := range w.F32() {
			out[i] = float64(v)
		}
		return out
	}
	linear := func(x, w, b []float64, in, out int) []float64 {
		y := make([]float64, out)
		for j := 0; j < out; j++ {
			s := 0.0
			for i := 0; i < in; i++ {
				s += x[i] * w[j*in+i]
			}
			if b != nil {
				s += b[j]
			}
			y[j] = s
		}
		return y
	}
	normf := func(x, w, b []float64) []float64 {
		d := len(x)
		y := make([]float64, d)
		if b != nil || c.LayerNorm {
			mean, v := 0.0, 0.0
			for _, a := range x {
				mean += a
			}
			mean /= float64(d)
			for _, a := range x {
				v += (a - mean) * (a - mean)
			}
			v /= float64(d)
			for i := range x {
				y[i] = (x[i]-mean)/math.Sqrt(v+float64(c.NormEps))*w[i] + b[i]
			}
			return y
		}
		ss := 0.0
		for _, a := range x {
			ss += a * a
		}
		r := 1 / math.Sqrt(ss/float64(d)+float64(c.NormEps))
		for i := range x {
			y[i] = x[i] * r * w[i]
		}
		return y
	}
	inv := c.InvFreq(n)
	rope := func(v []float64, pos int) {
		half := c.Rope.Dim / 2
		out := append([]float64(nil), v...)
		for i := 0; i < half; i++ {
			a := float64(pos) * float64(inv[i])
			cs, sn := math.Cos(a)*float64(c.RopeScale()), math.Sin(a)*float64(c.RopeScale())
			out[i] = v[i]*cs - v[i+half]*sn
			out[i+half] = v[i+half]*cs + v[i]*sn
		}
		copy(v, out)
	}
	emb, err := m.Embed(ids)
	if err != nil {
		t.Fatal(err)
	}
	h := make([][]float64, n)
	for p := range h {
		h[p] = make([]float64, H)
		for i := range h[p] {
			h[p][i] = float64(emb[p*H+i])
		}
	}
	for l := 0; l < c.Layers; l++ {
		L, err := m.LoadLayer(l)
		if err != nil {
			t.Fatal(err)
		}
		nh, nkv := L.Heads, L.KVHeads
		wq, wk, wv, wo := f64(L.Q), f64(L.K), f64(L.V), f64(L.O)
		qs, ks, vs, xs := make([][]float64, n), make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for p := 0; p < n; p++ {
			xs[p] = normf(h[p], f64(L.AttnNorm), f64(L.AttnNormB))
			qs[p] = linear(xs[p], wq, f64(L.QB), H, nh*hd)
			ks[p] = linear(xs[p], wk, f64(L.KB), H, nkv*hd)
			vs[p] = linear(xs[p], wv, f64(L.VB), H, nkv*hd)
			for a := 0; a < nh; a++ {
				q := qs[p][a*hd : (a+1)*hd]
				if c.QKNorm {
					copy(q, normf(q, f64(L.QNorm), nil))
				}
				rope(q, p)
			}
			for a := 0; a < nkv; a++ {
				k := ks[p][a*hd : (a+1)*hd]
				if c.QKNorm {
					copy(k, normf(k, f64(L.KNorm), nil))
				}
				rope(k, p)
			}
		}
		next := make([][]float64, n)
		for p := 0; p < n; p++ {
			z := make([]float64, nh*hd)
			for a := 0; a < nh; a++ {
				kv := a / (nh / nkv)
				sc := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := 0; j <= p; j++ {
					s := 0.0
					for e := 0; e < hd; e++ {
						s += qs[p][a*hd+e] * ks[j][kv*hd+e]
					}
					sc[j] = s / math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				tot := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					tot += sc[j]
				}
				for j := range sc {
					for e := 0; e < hd; e++ {
						z[a*hd+e] += sc[j] / tot * vs[j][kv*hd+e]
					}
				}
			}
			attn := linear(z, wo, f64(L.OB), nh*hd, H)
			mlpIn := xs[p]
			r := make([]float64, H)
			for i := range r {
				r[i] = h[p][i] + attn[i]
			}
			if !c.Parallel {
				mlpIn = normf(r, f64(L.FFNNorm), nil)
			}
			up := linear(mlpIn, f64(L.Up), f64(L.UpB), H, L.FFN)
			if L.Gate != nil {
				g := linear(mlpIn, f64(L.Gate), nil, H, L.FFN)
				for i := range up {
					up[i] *= g[i] / (1 + math.Exp(-g[i]))
				}
			} else {
				for i, u := range up {
					up[i] = 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
				}
			}
			down := linear(up, f64(L.Down), f64(L.DownB), L.FFN, H)
			for i := range r {
				r[i] += down[i]
			}
			next[p] = r
		}
		h = next
	}
	hd2, err := m.LoadHeadNorm()
	if err != nil {
		t.Fatal(err)
	}
	// The output matrix, read whole: fine for test-sized vocabularies.
	outRole := model.RoleLMHead
	if c.Tied {
		outRole = model.RoleEmbed
	}
	name := c.HFName(outRole, -1)
	if m.Format == "gguf" {
		name = c.GGUFName(outRole, -1)
	}
	info, _ := m.Store.Lookup(name)
	raw, err := m.Store.ReadRows(name, 0, info.Rows())
	if err != nil {
		t.Fatal(err)
	}
	wout := make([]float32, info.Elems())
	if err := tensor.Decode(wout, raw, info.DType); err != nil {
		t.Fatal(err)
	}
	w64 := make([]float64, len(wout))
	for i, v := range wout {
		w64[i] = float64(v)
	}
	logits := make([][]float64, n)
	for p := range h {
		logits[p] = linear(normf(h[p], f64(hd2.Norm), f64(hd2.NormB)), w64, f64(hd2.OutB), H, c.Vocab)
	}
	return logits
}

// Cases are the families and rope variants every engine is checked on.
var Cases = []synth.Options{
	{Family: "llama", Shape: "tiny"},
	{Family: "llama", Shape: "tiny", Rope: "llama3"},
	{Family: "llama", Shape: "tiny", Rope: "linear"},
	{Family: "qwen2", Shape: "tiny"},
	{Family: "qwen3", Shape: "tiny"},
	{Family: "phi3", Shape: "tiny"},
	{Family: "phi3", Shape: "tiny", Rope: "longrope", Partial: 0.75},
	{Family: "phi", Shape: "tiny"},
}

func caseName(o synth.Options) string {
	n := o.Family
	if o.Rope != "" {
		n += "-" + o.Rope
	}
	if o.Partial != 0 {
		n += "-partial"
	}
	return n
}

func TestForwardMatchesReference(t *testing.T) {
	ids := []int{1, 17, 200, 45, 45, 3, 380, 99, 7, 150, 22, 301}
	for _, o := range Cases {
		t.Run(caseName(o), func(t *testing.T) {
			c, err := synth.Config(o)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "m")
			if err := synth.WriteHF(dir, c, 7, tensor.BF16, ""); err != nil {
				t.Fatal(err)
			}
			m, err := model.OpenPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.AllLogits(model.CPU{}, ids)
			if err != nil {
				t.Fatal(err)
			}
			want := reference(t, m, ids)
			worst, scale := 0.0, 0.0
			for p := range want {
				for v, w := range want[p] {
					worst = math.Max(worst, math.Abs(float64(got[p*c.Vocab+v])-w))
					scale = math.Max(scale, math.Abs(w))
				}
			}
			t.Logf("max |engine - float64 reference| = %.3g (logit scale %.3g)", worst, scale)
			if worst > 1e-4*scale+1e-4 {
				t.Errorf("engine differs from the reference by %.3g (scale %.3g)", worst, scale)
			}
		})
	}
}
