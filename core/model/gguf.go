package model

import (
	"fmt"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// ggufFamily maps llama.cpp's architecture names onto families.
var ggufFamily = map[string]string{"llama": "llama", "deci": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "phi3": "phi3", "phi2": "phi"}

func openGGUF(f source.Folder, name string) (*Model, error) {
	src, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	g, err := gguf.Parse(src)
	if err != nil {
		return nil, err
	}
	if n, _ := g.Uint("split.count"); n > 1 {
		// llama-gguf-split's parts: the others hold the rest of the tensors.
		no, _ := g.Uint("split.no")
		return nil, fmt.Errorf("%s is part %d of a GGUF split in %d: merge the parts into one file first (llama-gguf-split --merge)", name, no+1, n)
	}
	c, err := ConfigFromGGUF(g)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m, err := New(c, ggufStore{g}, "gguf")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m.Arch = g.Arch()
	return m, nil
}

// ConfigFromGGUF reads the architecture from llama.cpp's metadata keys.
func ConfigFromGGUF(g *gguf.File) (*Config, error) {
	arch := g.Arch()
	fam, ok := ggufFamily[arch]
	if !ok {
		return nil, fmt.Errorf("GGUF architecture %q is not supported (llama, deci, qwen2, qwen3, phi3, phi2)", arch)
	}
	key := func(s string) string { return arch + "." + s }
	num := func(s string) int {
		v, _ := g.Uint(key(s))
		return int(v)
	}
	if n := num("expert_count"); n > 0 {
		// Mixtral-style files keep the llama architecture name.
		return nil, fmt.Errorf("%s with %d experts (mixture of experts) is not supported", arch, n)
	}
	c := &Config{Family: fam, Gated: true, BOS: -1, EOS: -1}
	c.Hidden = num("embedding_length")
	c.Layers = num("block_count")
	c.MaxPos = num("context_length")
	perLayer := func(s string) (int, []int, error) {
		if v, ok := g.Uint(key(s)); ok {
			return int(v), nil, nil
		}
		arr, ok := g.Ints(key(s))
		if !ok {
			return 0, nil, fmt.Errorf("metadata %s is missing", key(s))
		}
		if len(arr) != c.Layers {
			return 0, nil, fmt.Errorf("metadata %s has %d entries for %d layers", key(s), len(arr), c.Layers)
		}
		out := make([]int, len(arr))
		mx := 0
		for i, v := range arr {
			if v <= 0 || v > 1<<20 {
				return 0, nil, fmt.Errorf("metadata %s[%d] = %d: layers without attention or FFN are not supported", key(s), i, v)
			}
			out[i] = int(v)
			mx = max(mx, int(v))
		}
		return mx, out, nil
	}
	var err error
	var heads []int
	if c.FFN, c.LayerFFN, err = perLayer("feed_forward_length"); err != nil {
		return nil, err
	}
	if c.Heads, heads, err = perLayer("attention.head_count"); err != nil {
		return nil, err
	}
	c.KVHeads, c.LayerKVHeads = c.Heads, nil
	kvHeads := heads
	if _, ok := g.Get(key("attention.head_count_kv")); ok {
		if c.KVHeads, kvHeads, err = perLayer("attention.head_count_kv"); err != nil {
			return nil, err
		}
	}
	if heads != nil || kvHeads != nil {
		// Per-layer (deci): keep one query-per-KV ratio, as the engine needs.
		if heads == nil || kvHeads == nil {
			return nil, fmt.Errorf("per-layer head counts need both head_count and head_count_kv arrays")
		}
		c.LayerKVHeads = kvHeads
		grp := heads[0] / kvHeads[0]
		for l := range heads {
			if heads[l] != kvHeads[l]*grp {
				return nil, fmt.Errorf("layer %d has %d heads for %d KV heads; every layer must share one group size", l, heads[l], kvHeads[l])
			}
		}
		c.Heads = c.KVHeads * grp
	}
	if c.Heads > 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	if v := num("attention.key_length"); v > 0 {
		c.HeadDim = v
	}
	if c.LayerKVHeads != nil && c.Heads > 0 && c.Hidden%c.Heads == 0 {
		// deci's head_count is per layer; derive head_dim from the widest.
		c.HeadDim = c.Hidden / (c.Heads)
		if v := num("attention.key_length"); v > 0 {
			c.HeadDim = v
		}
	}
	c.Rope = Rope{Theta: 10000, Type: "default", Dim: c.HeadDim}
	if v, ok := g.Float(key("rope.freq_base")); ok {
		c.Rope.Theta = v
	}
	if v := num("rope.dimension_count"); v > 0 {
		c.Rope.Dim = v
	}
	if eps, ok := g.Float(key("attention.layer_norm_rms_epsilon")); ok {
		c.NormEps = float32(eps)
	}
	switch fam {
	case "qwen2":
		c.QKVBias = true
	case "qwen3":
		c.QKNorm = true
	case "phi":
		c.LayerNorm, c.Gated, c.Parallel = true, false, true
		c.QKVBias, c.OBias, c.MLPBias = true, true, true
		if eps, ok := g.Float(key("attention.layer_norm_epsilon")); ok {
			c.NormEps = float32(eps)
		}
	}
	if t, ok := g.Tensor("token_embd.weight"); ok && len(t.Shape) == 2 {
		c.Vocab = t.Shape[0]
	}
	_, hasOut := g.Tensor("output.weight")
	c.Tied = !hasOut
	if _, ok := g.Tensor("output.bias"); ok {
		c.HeadBias = true
	}
	if c.Family == "qwen3" || c.Family == "llama" {
		if _, ok := g.Tensor("blk.0.attn_q.bias"); ok {
			c.QKVBias = true
		}
	}
	if err := ggufRope(g, c, key); err != nil {
		return nil, err
	}
	if v, ok := g.Uint("tokenizer.ggml.bos_token_id"); ok {
		c.BOS = int(v)
	}
	if v, ok := g.Uint("tokenizer.ggml.eos_token_id"); ok {
		c.EOS = int(v)
	}
	if c.MaxPos <= 0 {
		c.MaxPos = 2048
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ggufRope reads rope scaling: linear through metadata; llama3 as llama.cpp's
// rope_freqs tensor of per-dimension divisors; longrope (phi3) as its
// rope_factors_short/long tensors and attn_factor.
func ggufRope(g *gguf.File, c *Config, key func(string) string) error {
	half := c.Rope.Dim / 2
	vec := func(name string) ([]float64, bool, error) {
		t, ok := g.Tensor(name)
		if !ok {
			return nil, false, nil
		}
		if t.Elems() != int64(half) {
			return nil, true, fmt.Errorf("tensor %s has %d values, want %d", name, t.Elems(), half)
		}
		f := make([]float32, half)
		if err := t.ReadF32(f, 0, t.Rows()); err != nil {
			return nil, true, err
		}
		out := make([]float64, half)
		for i, v := range f {
			if !(v > 0) {
				return nil, true, fmt.Errorf("tensor %s holds a non-positive factor %g", name, v)
			}
			out[i] = float64(v)
		}
		return out, true, nil
	}
	switch t, _ := g.String(key("rope.scaling.type")); t {
	case "linear":
		if f, ok := g.Float(key("rope.scaling.factor")); ok && f > 0 && f != 1 {
			c.Rope.Type, c.Rope.Factor = "linear", f
		}
	case "", "none", "longrope": // longrope: its factors are the tensors below
	default:
		// Ignoring it would run another rotary embedding than llama.cpp's.
		return fmt.Errorf("metadata %s %q is not supported (none, linear, longrope)", key("rope.scaling.type"), t)
	}
	if f, ok, err := vec("rope_freqs.weight"); err != nil {
		return err
	} else if ok {
		c.Rope.Type, c.Rope.Short, c.Rope.OrigMax = "longrope", f, 1<<30
	}
	short, okS, err := vec("rope_factors_short.weight")
	if err != nil {
		return err
	}
	long, okL, err := vec("rope_factors_long.weight")
	if err != nil {
		return err
	}
	if okS || okL {
		if !okS {
			short = make([]float64, half)
			for i := range short {
				short[i] = 1
			}
		}
		c.Rope.Type, c.Rope.Short, c.Rope.Long = "longrope", short, long
		c.Rope.OrigMax = c.MaxPos
		if v, ok := g.Uint(key("rope.scaling.original_context_length")); ok && v > 0 {
			c.Rope.OrigMax = int(v)
		}
	}
	if f, ok := g.Float(key("rope.scaling.attn_factor")); ok && f > 0 {
		c.Rope.AttnFactor = f
	}
	return nil
}

// ggufStore adapts a GGUF file to Store.
type ggufStore struct{ g *gguf.File }

func (s ggufStore) Lookup(name string) (tensor.Info, bool) {
	t, ok := s.g.Tensor(name)
	if !ok {
		return tensor.Info{}, false
	}
	return t.Info, true
}

func (s ggufStore) ReadRows(name string, lo, n int) ([]byte, error) {
	t, ok := s.g.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	return t.ReadRaw(lo, n)
}

// GGUF returns the parsed GGUF file of a model opened from one, else nil
// (exporters copy its tokenizer keys).
func (m *Model) GGUF() *gguf.File {
	if s, ok := m.Store.(ggufStore); ok {
		return s.g
	}
	return nil
}
