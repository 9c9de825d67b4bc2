//go:build !js && !wasip1

package gpu

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// Tolerances against model.CPU, relative to the largest magnitude of the
// compared quantity (see maxRel). Both engines compute in float32; the
// differences are summation order, exp/inverseSqrt and the f32 statistics.
const (
	logitTol = 2e-5
	statTol  = 2e-5
)

type family struct {
	synth.Options
	dt tensor.DType
}

func families() []family {
	return []family{
		{synth.Options{Family: "llama", Shape: "tiny"}, tensor.BF16},
		{synth.Options{Family: "llama", Shape: "tiny", Rope: "llama3", Partial: 0.5}, tensor.F16},
		{synth.Options{Family: "qwen2", Shape: "tiny"}, tensor.BF16},
		{synth.Options{Family: "qwen3", Shape: "tiny"}, tensor.F32},
		{synth.Options{Family: "phi3", Shape: "tiny", Rope: "longrope"}, tensor.BF16},
		{synth.Options{Family: "phi", Shape: "tiny"}, tensor.F16},
	}
}

func (f family) String() string {
	s := f.Family
	if f.Rope != "" {
		s += "-" + f.Rope
	}
	if f.Partial > 0 {
		s += fmt.Sprintf("-partial%g", f.Partial)
	}
	return s + "-" + f.dt.String()
}

func synthModel(t testing.TB, f family) *model.Model {
	t.Helper()
	c, err := synth.Config(f.Options)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := synth.WriteHF(dir, c, 7, f.dt, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tokens(n, vocab, seed int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (seed*131 + i*977 + i*i*31) % vocab
	}
	return ids
}

func TestLogitsMatchCPU(t *testing.T) {
	d := device(t)
	be := newOn(d)
	for _, f := range families() {
		t.Run(f.String(), func(t *testing.T) {
			m := synthModel(t, f)
			ids := tokens(13, m.Config.Vocab, 1)
			want, err := m.AllLogits(model.CPU{}, ids)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.AllLogits(be, ids)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.Vocab
			worst := 0.0
			for pos := range ids {
				e, at := maxRel(got[pos*V:(pos+1)*V], want[pos*V:(pos+1)*V], 1)
				if e > logitTol {
					t.Errorf("position %d: max rel error %.3g at vocab %d: got %g want %g", pos, e, at, got[pos*V+at], want[pos*V+at])
				}
				worst = math.Max(worst, e)
			}
			t.Logf("max rel logit error over %d positions: %.2e", len(ids), worst)
		})
	}
}

func collect(t testing.TB, m *model.Model, be model.Backend, docs [][]int) []*model.Stats {
	t.Helper()
	var out []*model.Stats
	s, err := m.Run(be, model.Pack(docs), func(L *model.Layer, st *model.Stats) error {
		out = append(out, st)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	be.Free(s)
	return out
}

func flat32(x [][]float32) []float32 {
	var o []float32
	for _, r := range x {
		o = append(o, r...)
	}
	return o
}

func to32(x []float64) []float32 {
	o := make([]float32, len(x))
	for i, v := range x {
		o[i] = float32(v)
	}
	return o
}

func TestStatsMatchCPU(t *testing.T) {
	d := device(t)
	be := newOn(d)
	for _, f := range families() {
		t.Run(f.String(), func(t *testing.T) {
			m := synthModel(t, f)
			V := m.Config.Vocab
			docs := [][]int{tokens(5, V, 2), tokens(9, V, 3), tokens(3, V, 4)}
			want := collect(t, m, model.CPU{}, docs)
			got := collect(t, m, be, docs)
			worst := 0.0
			for l := range want {
				w, g := want[l], got[l]
				if g.Tokens != w.Tokens {
					t.Errorf("layer %d: %d tokens, want %d", l, g.Tokens, w.Tokens)
				}
				for _, c := range []struct {
					name string
					g, w []float32
				}{
					{"FFNDoc", flat32(g.FFNDoc), flat32(w.FFNDoc)},
					{"AttnDoc", flat32(g.AttnDoc), flat32(w.AttnDoc)},
					{"FFNSum", to32(g.FFNSum), to32(w.FFNSum)},
					{"FFNSq", to32(g.FFNSq), to32(w.FFNSq)},
					{"OSum", to32(g.OSum), to32(w.OSum)},
					{"OSq", to32(g.OSq), to32(w.OSq)},
				} {
					e, at := maxRel(c.g, c.w, 1e-6)
					if e > statTol {
						t.Errorf("layer %d %s: max rel error %.3g at %d: got %g want %g", l, c.name, e, at, c.g[at], c.w[at])
					}
					worst = math.Max(worst, e)
				}
			}
			t.Logf("max rel stats error: %.2e", worst)
		})
	}
}

// TestSplitWeights runs a model with a binding limit far below its weights'
// sizes, so every projection is bound in several chunks.
func TestSplitWeights(t *testing.T) {
	d := device(t)
	saved := d.MaxBinding
	d.MaxBinding = 4096
	defer func() { d.MaxBinding = saved }()
	f := family{synth.Options{Family: "qwen2", Shape: "tiny"}, tensor.BF16}
	m := synthModel(t, f)
	ids := tokens(6, m.Config.Vocab, 5)
	want, err := m.LastLogits(model.CPU{}, ids)
	if err != nil {
		t.Fatal(err)
	}
	// Activations are 4-byte float32 rows: 6 tokens * 160 FFN = 3840 bytes fit.
	got, err := m.LastLogits(newOn(d), ids)
	if err != nil {
		t.Fatal(err)
	}
	if e, at := maxRel(got, want, 1); e > logitTol {
		t.Fatalf("max rel error %.3g at %d", e, at)
	}
}

// TestPruneDecisions scores the synthetic models' calibration documents on
// both engines and compares what every method removes.
func TestPruneDecisions(t *testing.T) {
	d := device(t)
	be := newOn(d)
	for _, f := range families() {
		t.Run(f.String(), func(t *testing.T) {
			m := synthModel(t, f)
			V := m.Config.Vocab
			var docs [][]int
			for i := 0; i < 6; i++ {
				docs = append(docs, tokens(4+3*i, V, 10+i))
			}
			cpu, err := prune.Score(context.Background(), m, model.CPU{}, docs, nil)
			if err != nil {
				t.Fatal(err)
			}
			gpu, err := prune.Score(context.Background(), m, be, docs, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []string{"cusprun", "wanda-sp", "flap"} {
				for _, placement := range []string{"uniform", "adaptive"} {
					pc, err := prune.Select(m.Config, cpu.Scores(method, 1), method, 0.3, placement, false)
					if err != nil {
						continue // a combination the method does not offer
					}
					pg, err := prune.Select(m.Config, gpu.Scores(method, 1), method, 0.3, placement, false)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(pc.KeepFFN, pg.KeepFFN) || !reflect.DeepEqual(pc.KeepGroups, pg.KeepGroups) {
						t.Errorf("%s/%s: the engines keep different units:\ncpu ffn %v groups %v\ngpu ffn %v groups %v",
							method, placement, pc.KeepFFN, pc.KeepGroups, pg.KeepFFN, pg.KeepGroups)
					}
				}
			}
		})
	}
}

// TestGenerateRefused checks that generation on the GPU backend, which
// keeps no KV cache, is an error that says so (generation runs on the CPU).
func TestGenerateRefused(t *testing.T) {
	be := newOn(device(t))
	m := synthModel(t, families()[0])
	if _, ok := model.Backend(be).(model.CacheBackend); ok {
		t.Fatal("the gpu backend claims a KV cache")
	}
	_, err := m.GenerateOn(be, []int{1, 2, 3}, 4, 0, 1, -1, nil)
	if err == nil || !strings.Contains(err.Error(), "gpu backend keeps no KV cache") {
		t.Fatalf("GenerateOn(gpu): err %v, want one saying the gpu keeps no KV cache", err)
	}
}
