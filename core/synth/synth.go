// Package synth makes models with the exact structure of a family at a given
// shape and deterministic random weights, so tests and benchmarks have real
// shapes without downloading anything. The same seed gives the same weights
// in every output format.
package synth

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// Shape is the size of a model, independent of its family.
type Shape struct {
	Hidden, Layers, Heads, KVHeads, HeadDim, FFN, Vocab, MaxPos int
	Theta                                                       float64
	Tied                                                        bool
}

// Shapes are the sizes of the models users bring, plus tiny for tests.
var Shapes = map[string]Shape{
	"tiny":         {Hidden: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 160, Vocab: 384, MaxPos: 512, Theta: 10000},
	"small":        {Hidden: 128, Layers: 4, Heads: 8, KVHeads: 2, FFN: 352, Vocab: 1024, MaxPos: 1024, Theta: 10000},
	"smollm-135m":  {Hidden: 576, Layers: 30, Heads: 9, KVHeads: 3, FFN: 1536, Vocab: 49152, MaxPos: 2048, Theta: 10000, Tied: true},
	"qwen2.5-0.5b": {Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2, FFN: 4864, Vocab: 151936, MaxPos: 32768, Theta: 1e6, Tied: true},
	"qwen2.5-1.5b": {Hidden: 1536, Layers: 28, Heads: 12, KVHeads: 2, FFN: 8960, Vocab: 151936, MaxPos: 32768, Theta: 1e6, Tied: true},
	"qwen3-0.6b":   {Hidden: 1024, Layers: 28, Heads: 16, KVHeads: 8, HeadDim: 128, FFN: 3072, Vocab: 151936, MaxPos: 40960, Theta: 1e6, Tied: true},
	"llama-3.2-1b": {Hidden: 2048, Layers: 16, Heads: 32, KVHeads: 8, FFN: 8192, Vocab: 128256, MaxPos: 131072, Theta: 500000, Tied: true},
	"phi-3-mini":   {Hidden: 3072, Layers: 32, Heads: 32, KVHeads: 32, FFN: 8192, Vocab: 32064, MaxPos: 4096, Theta: 10000},
	"phi-4-mini":   {Hidden: 3072, Layers: 32, Heads: 24, KVHeads: 8, FFN: 8192, Vocab: 200064, MaxPos: 131072, Theta: 10000, Tied: true},
	"phi-2":        {Hidden: 2560, Layers: 32, Heads: 32, KVHeads: 32, FFN: 10240, Vocab: 51200, MaxPos: 2048, Theta: 10000},
}

// ShapeNames lists the known shapes, sorted.
func ShapeNames() []string {
	var n []string
	for k := range Shapes {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Options choose what to make.
type Options struct {
	Family  string // llama, qwen2, qwen3, phi3, phi
	Shape   string
	Rope    string  // "" (the family's default), linear, llama3, longrope
	Partial float64 // partial rotary factor; 0 for the family's default
	Layers  int     // override the shape's layer count when > 0
	Seed    uint64
}

// Families are the families synth can make.
var Families = []string{"llama", "qwen2", "qwen3", "phi3", "phi"}

// Config builds the architecture for a family at a shape.
func Config(o Options) (*model.Config, error) {
	s, ok := Shapes[o.Shape]
	if !ok {
		return nil, fmt.Errorf("unknown shape %q (known: %s)", o.Shape, strings.Join(ShapeNames(), ", "))
	}
	if o.Layers > 0 {
		s.Layers = o.Layers
	}
	hd := s.HeadDim
	if hd == 0 {
		hd = s.Hidden / s.Heads
	}
	c := &model.Config{Family: o.Family, Hidden: s.Hidden, Layers: s.Layers, Heads: s.Heads, KVHeads: s.KVHeads,
		HeadDim: hd, FFN: s.FFN, Vocab: s.Vocab, MaxPos: s.MaxPos, NormEps: 1e-5, Gated: true, Tied: s.Tied,
		Rope: model.Rope{Theta: s.Theta, Dim: hd, Type: "default"}, BOS: 1, EOS: 2}
	switch o.Family {
	case "llama":
	case "qwen2":
		c.QKVBias = true
		c.NormEps = 1e-6
	case "qwen3":
		c.QKNorm = true
		c.NormEps = 1e-6
	case "phi3":
	case "phi":
		c.LayerNorm, c.Gated, c.Parallel = true, false, true
		c.QKVBias, c.OBias, c.MLPBias, c.HeadBias = true, true, true, true
		c.KVHeads = c.Heads
		c.Tied = false
		c.Rope.Dim = hd / 2
	default:
		return nil, fmt.Errorf("unknown family %q (known: %s)", o.Family, strings.Join(Families, ", "))
	}
	if o.Partial > 0 {
		c.Rope.Dim = int(float64(hd)*o.Partial) &^ 1
	}
	half := c.Rope.Dim / 2
	switch o.Rope {
	case "", "default":
	case "linear":
		c.Rope.Type, c.Rope.Factor = "linear", 2
	case "llama3":
		c.Rope.Type, c.Rope.Factor, c.Rope.LowFreq, c.Rope.HighFreq, c.Rope.OrigMax = "llama3", 8, 1, 4, 64
	case "longrope":
		// Factors at or above 1, growing with the dimension, as Phi-3's are;
		// the original context equals the full one, so short factors apply.
		c.Rope.Type, c.Rope.OrigMax = "longrope", c.MaxPos
		c.Rope.Short, c.Rope.Long = make([]float64, half), make([]float64, half)
		for i := 0; i < half; i++ {
			c.Rope.Short[i] = 1 + 0.05*float64(i)
			c.Rope.Long[i] = 1 + 0.5*float64(i)
		}
	default:
		return nil, fmt.Errorf("unknown rope %q (default, linear, llama3, longrope)", o.Rope)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Values fills a tensor's float32 values from the seed and the tensor's
// name, so the same tensor is the same in every format. Matrices get a
// uniform spread of unit output variance; norm weights sit near 1; biases
// and the embedding are spread enough that logits are far from uniform.
func Values(seed uint64, name string, role model.Role, shape []int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rng{seed ^ h.Sum64() ^ 0x9e3779b97f4a7c15}
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	switch role {
	case model.RoleAttnNorm, model.RoleFFNNorm, model.RoleFinalNorm, model.RoleQNorm, model.RoleKNorm:
		for i := range v {
			v[i] = 1 + 0.2*(r.uniform()*2-1)
		}
	case model.RoleAttnNormB, model.RoleFinalNormB, model.RoleQB, model.RoleKB, model.RoleVB,
		model.RoleOB, model.RoleUpB, model.RoleDownB, model.RoleLMHeadB:
		for i := range v {
			v[i] = 0.1 * (r.uniform()*2 - 1)
		}
	case model.RoleEmbed, model.RoleLMHead:
		for i := range v {
			v[i] = 1.5 * (r.uniform()*2 - 1)
		}
	default:
		a := float32(math.Sqrt(3 / float64(shape[len(shape)-1])))
		for i := range v {
			v[i] = a * (r.uniform()*2 - 1)
		}
	}
	return v
}

// Tensor is one tensor of a synthetic model: where it goes and its values.
type Tensor struct {
	Spec model.TensorSpec
	Info tensor.Info
}

// rng is splitmix64: tiny, fast and the same on every platform.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) uniform() float32 { return float32(r.next()>>40) / (1 << 24) }
