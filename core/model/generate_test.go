package model_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/ops"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// synthModels opens one small synthetic model per family, in both file
// formats (GGUF in Q8_0, so a quantized store is covered too).
func synthModels(t *testing.T) map[string]*model.Model {
	t.Helper()
	out := map[string]*model.Model{}
	for _, fam := range synth.Families {
		c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny"})
		if err != nil {
			t.Fatal(err)
		}
		hf := filepath.Join(t.TempDir(), fam)
		if err := synth.WriteHF(hf, c, 4, tensor.BF16, ""); err != nil {
			t.Fatal(err)
		}
		gg := filepath.Join(t.TempDir(), fam+".gguf")
		if err := synth.WriteGGUF(gg, c, 4, tensor.Q8_0); err != nil {
			t.Fatal(err)
		}
		for name, path := range map[string]string{fam + "/hf": hf, fam + "/gguf": gg} {
			m, err := model.OpenPath(path)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = m
		}
	}
	return out
}

func argmax(l []float32) int {
	best := 0
	for v := range l {
		if l[v] > l[best] {
			best = v
		}
	}
	return best
}

// TestGenerateMatchesFullPass checks greedy generation (one cached token at
// a time) against an independent path: one full pass without a cache over
// the prompt and every generated token, whose logits at position p must have
// their argmax at the token generated after p.
func TestGenerateMatchesFullPass(t *testing.T) {
	for name, m := range synthModels(t) {
		t.Run(name, func(t *testing.T) {
			prompt := []int{1, 300, 270, 281}
			const n = 10
			got, err := m.Generate(prompt, n, 0, 1, -1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("generated %d tokens, asked for %d", len(got), n)
			}
			seq := append(append([]int(nil), prompt...), got[:n-1]...)
			all, err := m.AllLogits(model.CPU{}, seq)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.Vocab
			for i, id := range got {
				p := len(prompt) - 1 + i
				if best := argmax(all[p*V : (p+1)*V]); best != id {
					t.Fatalf("step %d: cached generation chose %d, the full pass %d", i, id, best)
				}
			}
		})
	}
}

// TestCachedLogitsMatchFullPass runs a sequence through Run with a KV cache
// in uneven pieces and compares the logits after each piece with those of
// one uncached pass over the whole sequence.
func TestCachedLogitsMatchFullPass(t *testing.T) {
	seq := []int{1, 300, 270, 281, 17, 99, 5, 260, 311, 42, 8}
	pieces := []int{3, 1, 4, 1, 2}
	for name, m := range synthModels(t) {
		t.Run(name, func(t *testing.T) {
			be := model.CPU{}
			all, err := m.AllLogits(be, seq)
			if err != nil {
				t.Fatal(err)
			}
			hd, err := m.LoadHeadNorm()
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.Vocab
			cache := be.NewCache(m.Config)
			at := 0
			for _, k := range pieces {
				b := model.Batch{IDs: seq[at : at+k], Docs: []ops.Span{{Len: k, Past: at}}, Cache: cache}
				s, err := m.Run(be, b, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				rows := make([]int, k)
				for i := range rows {
					rows[i] = i
				}
				err = m.Logits(be, s, hd, rows, func(lo, hi int, y []float32) {
					for r := range rows {
						want := all[(at+r)*V+lo : (at+r)*V+hi]
						for j, g := range y[r*(hi-lo) : (r+1)*(hi-lo)] {
							if d := math.Abs(float64(g - want[j])); d > 1e-4*(1+math.Abs(float64(want[j]))) {
								t.Fatalf("position %d, token %d: cached logit %g, full pass %g", at+r, lo+j, g, want[j])
							}
						}
					}
				})
				be.Free(s)
				if err != nil {
					t.Fatal(err)
				}
				at += k
				if cache.Len() != at {
					t.Fatalf("cache holds %d positions after %d tokens", cache.Len(), at)
				}
			}
		})
	}
}

// noCache is the CPU backend without its KV cache.
type noCache struct{}

func (noCache) Name() string { return "nocache" }
func (noCache) Start(c *model.Config, h []float32, docs []ops.Span) (model.State, error) {
	return model.CPU{}.Start(c, h, docs)
}
func (noCache) Layer(s model.State, L *model.Layer, st *model.Stats) error {
	return model.CPU{}.Layer(s, L, st)
}
func (noCache) Final(s model.State, h *model.Head, rows []int) ([]float32, error) {
	return model.CPU{}.Final(s, h, rows)
}
func (noCache) Free(model.State) {}

// TestGenerateNeedsCache checks that a backend without a KV cache is
// refused with an error naming it, both by GenerateOn and by Run.
func TestGenerateNeedsCache(t *testing.T) {
	m := synthModels(t)["llama/hf"]
	if _, err := m.GenerateOn(noCache{}, []int{1, 2}, 3, 0, 1, -1, nil); err == nil || !strings.Contains(err.Error(), "nocache") {
		t.Fatalf("GenerateOn without a cache: err %v, want one naming the backend", err)
	}
	b := model.Batch{IDs: []int{1}, Docs: []ops.Span{{Len: 1}}, Cache: model.CPU{}.NewCache(m.Config)}
	if _, err := m.Run(noCache{}, b, nil, nil); err == nil || !strings.Contains(err.Error(), "KV cache") {
		t.Fatalf("Run with a cache on a backend without one: err %v", err)
	}
	// A cache continued at the wrong position is refused too.
	b.Docs[0].Past = 2
	if _, err := m.Run(model.CPU{}, b, nil, nil); err == nil {
		t.Fatal("Run continued a cache of 0 positions at position 2")
	}
}
