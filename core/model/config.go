// Package model describes a decoder-only transformer of any supported family
// with one parameterised Config, reads its weights by role from a Hugging
// Face folder or a GGUF file, and runs the one forward pass over many
// documents through a Backend (the CPU backend lives here; gpu/ adds another).
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
)

// Config is the architecture of one model: every family is a setting of
// these fields, never a separate code path.
type Config struct {
	Family  string // llama, qwen2, qwen3, phi3, phi
	Hidden  int
	Layers  int
	Heads   int // query heads
	KVHeads int
	HeadDim int
	FFN     int // intermediate size (per layer widths below override)
	Vocab   int
	MaxPos  int
	// Window is the span of sliding-window attention in the source's own
	// runtime (the sliding_window of phi3, mistral and Qwen with
	// use_sliding_window, in transformers), 0 for none. The
	// forward attends to the whole document, which is the same thing for
	// documents no longer than the window, so Context caps documents there.
	Window    int
	NormEps   float32
	LayerNorm bool // LayerNorm with bias (phi) instead of RMSNorm
	Gated     bool // SwiGLU gate*up (true) or a plain fc1 -> GELU -> fc2 MLP (phi)
	Parallel  bool // attention and MLP read the same normed input and add together (phi)
	QKVBias   bool
	OBias     bool // o_proj / dense bias (phi)
	MLPBias   bool // fc1/fc2 biases (phi)
	QKNorm    bool // per-head RMSNorm on q and k (qwen3)
	HeadBias  bool // lm_head bias (phi)
	Tied      bool // lm_head shares the embedding matrix
	Rope      Rope
	BOS, EOS  int

	// Per-layer widths, set only when layers differ (an adaptively pruned
	// model); nil means every layer has FFN and KVHeads.
	LayerFFN     []int
	LayerKVHeads []int
}

// Rope describes the rotary embedding: which dimensions rotate and how the
// frequencies are scaled.
type Rope struct {
	Theta    float64
	Dim      int    // rotated dimensions per head (HeadDim * partial factor)
	Type     string // default, linear, llama3, longrope
	Factor   float64
	LowFreq  float64 // llama3 low_freq_factor
	HighFreq float64 // llama3 high_freq_factor
	OrigMax  int     // original_max_position_embeddings (llama3, longrope)
	Short    []float64
	Long     []float64
	// AttnFactor multiplies cos and sin (longrope); 0 means 1.
	AttnFactor float64
}

// FFNAt is layer l's intermediate width.
func (c *Config) FFNAt(l int) int {
	if c.LayerFFN != nil {
		return c.LayerFFN[l]
	}
	return c.FFN
}

// KVHeadsAt is layer l's KV head count; its query heads are KVHeadsAt(l) * Group().
func (c *Config) KVHeadsAt(l int) int {
	if c.LayerKVHeads != nil {
		return c.LayerKVHeads[l]
	}
	return c.KVHeads
}

// HeadsAt is layer l's query head count.
func (c *Config) HeadsAt(l int) int { return c.KVHeadsAt(l) * c.Group() }

// Group is the number of query heads per KV head.
func (c *Config) Group() int { return c.Heads / c.KVHeads }

// InvFreq returns the rotary inverse frequencies for a sequence of seqLen
// tokens (longrope picks its long factors past the original context).
func (c *Config) InvFreq(seqLen int) []float32 {
	r := c.Rope
	half := r.Dim / 2
	inv := make([]float32, half)
	for i := 0; i < half; i++ {
		f := 1 / math.Pow(r.Theta, float64(2*i)/float64(r.Dim))
		switch r.Type {
		case "linear":
			f /= r.Factor
		case "llama3":
			wavelen := 2 * math.Pi / f
			lowWave := float64(r.OrigMax) / r.LowFreq
			highWave := float64(r.OrigMax) / r.HighFreq
			switch {
			case wavelen < highWave:
			case wavelen > lowWave:
				f /= r.Factor
			default:
				smooth := (float64(r.OrigMax)/wavelen - r.LowFreq) / (r.HighFreq - r.LowFreq)
				f = (1-smooth)*f/r.Factor + smooth*f
			}
		case "longrope":
			ext := r.Short
			if seqLen > r.OrigMax && r.Long != nil {
				ext = r.Long
			}
			f /= ext[i]
		}
		inv[i] = float32(f)
	}
	return inv
}

// RopeScale is the factor on cos and sin.
func (c *Config) RopeScale() float32 {
	if c.Rope.AttnFactor == 0 {
		return 1
	}
	return float32(c.Rope.AttnFactor)
}

// Context is the longest document the forward computes as the source's
// own runtime would: the model's context, or its sliding window if shorter.
func (c *Config) Context() int {
	if c.Window > 0 && (c.MaxPos <= 0 || c.Window < c.MaxPos) {
		return c.Window
	}
	return c.MaxPos
}

// contextName says which limit Context is, for errors.
func (c *Config) contextName() string {
	if c.Context() == c.Window && c.Window > 0 {
		return "sliding window"
	}
	return "context"
}

// Validate checks the numbers make a model this engine can run.
func (c *Config) Validate() error {
	switch {
	case c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.Vocab <= 0:
		return fmt.Errorf("config: hidden %d, layers %d, heads %d, kv heads %d, head dim %d, vocab %d must all be positive",
			c.Hidden, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.Vocab)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("config: %d attention heads is not a multiple of %d KV heads", c.Heads, c.KVHeads)
	case c.Rope.Dim <= 0 || c.Rope.Dim > c.HeadDim || c.Rope.Dim%2 != 0:
		return fmt.Errorf("config: rotary dimension %d must be even and within head dim %d", c.Rope.Dim, c.HeadDim)
	case !(c.Rope.Theta > 0) || math.IsInf(c.Rope.Theta, 1):
		return fmt.Errorf("config: rope theta %g must be positive", c.Rope.Theta)
	case !(c.NormEps >= 0) || c.NormEps > 1:
		return fmt.Errorf("config: norm epsilon %g must be a small number, at least 0", c.NormEps)
	case c.Window < 0:
		return fmt.Errorf("config: sliding window %d must not be negative", c.Window)
	case c.Hidden > 1<<16 || c.Layers > 1024 || c.Vocab > 1<<22 || c.FFN > 1<<20 || c.Heads > 1024:
		return fmt.Errorf("config: sizes out of range (hidden %d, layers %d, vocab %d, ffn %d, heads %d)", c.Hidden, c.Layers, c.Vocab, c.FFN, c.Heads)
	}
	if c.LayerFFN != nil && len(c.LayerFFN) != c.Layers || c.LayerKVHeads != nil && len(c.LayerKVHeads) != c.Layers {
		return fmt.Errorf("config: per-layer widths list %d/%d entries for %d layers", len(c.LayerFFN), len(c.LayerKVHeads), c.Layers)
	}
	if c.FFN <= 0 && c.LayerFFN == nil {
		return fmt.Errorf("config: intermediate size %d must be positive", c.FFN)
	}
	switch c.Rope.Type {
	case "default", "linear", "llama3", "longrope":
	default:
		return fmt.Errorf("config: rope scaling type %q is not supported (default, linear, llama3, longrope)", c.Rope.Type)
	}
	if (c.Rope.Type == "linear" || c.Rope.Type == "llama3") && !(c.Rope.Factor > 0) {
		return fmt.Errorf("config: rope scaling factor %g must be positive", c.Rope.Factor)
	}
	if c.Rope.Type == "llama3" && (c.Rope.OrigMax <= 0 || c.Rope.HighFreq <= c.Rope.LowFreq) {
		return fmt.Errorf("config: llama3 rope scaling needs original_max_position_embeddings and high_freq_factor > low_freq_factor")
	}
	if c.Rope.Type == "longrope" && len(c.Rope.Short) != c.Rope.Dim/2 {
		return fmt.Errorf("config: longrope short_factor has %d entries, want %d", len(c.Rope.Short), c.Rope.Dim/2)
	}
	if c.Rope.Type == "longrope" && c.Rope.Long != nil && len(c.Rope.Long) != c.Rope.Dim/2 {
		return fmt.Errorf("config: longrope long_factor has %d entries, want %d", len(c.Rope.Long), c.Rope.Dim/2)
	}
	return nil
}

// jsonError says what a JSON type mismatch is in the file's own terms
// ("tie_word_embeddings is a JSON string, want a boolean") rather than
// naming the Go struct it was read into.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return err
	}
	want := map[reflect.Kind]string{reflect.Bool: "boolean", reflect.String: "string", reflect.Float32: "number", reflect.Float64: "number",
		reflect.Slice: "list", reflect.Map: "object", reflect.Struct: "object"}[te.Type.Kind()]
	if want == "" {
		want = "whole number" // the int kinds (and pointers to them)
		if te.Type.Kind() == reflect.Pointer {
			want = map[reflect.Kind]string{reflect.Bool: "boolean", reflect.Float64: "number", reflect.Float32: "number"}[te.Type.Elem().Kind()]
			if want == "" {
				want = "whole number"
			}
		}
	}
	return fmt.Errorf("%s is a JSON %s, want a %s", te.Field, te.Value, want)
}

// hfConfig is the subset of a Hugging Face config.json this engine reads.
type hfConfig struct {
	ModelType   string          `json:"model_type"`
	Hidden      int             `json:"hidden_size"`
	Layers      int             `json:"num_hidden_layers"`
	Heads       int             `json:"num_attention_heads"`
	KVHeads     *int            `json:"num_key_value_heads"`
	HeadDim     *int            `json:"head_dim"`
	FFN         int             `json:"intermediate_size"`
	Vocab       int             `json:"vocab_size"`
	MaxPos      int             `json:"max_position_embeddings"`
	RMSEps      *float64        `json:"rms_norm_eps"`
	LNEps       *float64        `json:"layer_norm_eps"`
	Theta       *float64        `json:"rope_theta"`
	Scaling     json.RawMessage `json:"rope_scaling"`
	RopeParams  json.RawMessage `json:"rope_parameters"`
	Partial     *float64        `json:"partial_rotary_factor"`
	Tied        *bool           `json:"tie_word_embeddings"`
	AttnBias    *bool           `json:"attention_bias"`
	MLPBias     *bool           `json:"mlp_bias"`
	OrigMax     int             `json:"original_max_position_embeddings"`
	Window      *int            `json:"sliding_window"`
	UseWindow   *bool           `json:"use_sliding_window"`
	LayerTypes  []string        `json:"layer_types"`
	BOS         json.RawMessage `json:"bos_token_id"`
	EOS         json.RawMessage `json:"eos_token_id"`
	HiddenAct   string          `json:"hidden_act"`
	QKLayerNorm bool            `json:"qk_layernorm"`
	Quant       json.RawMessage `json:"quantization_config"`
	MLXQuant    json.RawMessage `json:"quantization"`
}

type hfScaling struct {
	Type       string    `json:"type"`
	RopeType   string    `json:"rope_type"`
	Factor     float64   `json:"factor"`
	LowFreq    float64   `json:"low_freq_factor"`
	HighFreq   float64   `json:"high_freq_factor"`
	OrigMax    int       `json:"original_max_position_embeddings"`
	Short      []float64 `json:"short_factor"`
	Long       []float64 `json:"long_factor"`
	AttnFactor *float64  `json:"attention_factor"`
}

// ParseHFConfig maps a config.json onto Config.
func ParseHFConfig(data []byte) (*Config, error) {
	var h hfConfig
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("config.json: %v", jsonError(err))
	}
	if err := h.foldRopeParameters(); err != nil {
		return nil, err
	}
	if err := h.notQuantized(); err != nil {
		return nil, err
	}
	c := &Config{Hidden: h.Hidden, Layers: h.Layers, Heads: h.Heads, FFN: h.FFN, Vocab: h.Vocab, MaxPos: h.MaxPos}
	c.KVHeads = h.Heads
	if h.KVHeads != nil && *h.KVHeads > 0 {
		c.KVHeads = *h.KVHeads
	}
	if h.Heads > 0 {
		c.HeadDim = h.Hidden / h.Heads
	}
	if h.HeadDim != nil && *h.HeadDim > 0 {
		c.HeadDim = *h.HeadDim
	}
	c.Rope = Rope{Theta: 10000, Type: "default", Dim: c.HeadDim}
	if h.Theta != nil {
		c.Rope.Theta = *h.Theta
	}
	if h.Partial != nil {
		c.Rope.Dim = int(float64(c.HeadDim) * *h.Partial)
	}
	eps := func(p *float64, def float64) float32 {
		if p != nil {
			return float32(*p)
		}
		return float32(def)
	}
	c.NormEps = eps(h.RMSEps, 1e-6)
	c.Gated = true
	switch h.ModelType {
	case "llama", "mistral":
		c.Family = "llama"
		c.Window = h.window() // Mistral-7B-v0.1: 4096
		c.QKVBias = h.AttnBias != nil && *h.AttnBias
		c.OBias = c.QKVBias
		c.MLPBias = h.MLPBias != nil && *h.MLPBias
		if c.OBias || c.MLPBias {
			return nil, fmt.Errorf("config.json: llama with attention_bias or mlp_bias is not supported")
		}
		c.QKVBias = false
	case "qwen2":
		c.Family = "qwen2"
		c.QKVBias = true
		w, err := h.qwenWindow()
		if err != nil {
			return nil, err
		}
		c.Window = w
	case "qwen3":
		c.Family = "qwen3"
		c.QKNorm = true
		c.QKVBias = h.AttnBias != nil && *h.AttnBias
		w, err := h.qwenWindow()
		if err != nil {
			return nil, err
		}
		c.Window = w
	case "phi3":
		c.Family = "phi3"
		c.NormEps = eps(h.RMSEps, 1e-5)
		c.Window = h.window() // Phi-3-mini-4k: 2047
	case "phi":
		c.Family = "phi"
		c.LayerNorm, c.Gated, c.Parallel = true, false, true
		c.QKVBias, c.OBias, c.MLPBias, c.HeadBias = true, true, true, true
		c.NormEps = eps(h.LNEps, 1e-5)
		if h.QKLayerNorm {
			return nil, fmt.Errorf("config.json: phi with qk_layernorm is not supported")
		}
		if h.Partial == nil {
			c.Rope.Dim = c.HeadDim / 2
		}
		if h.HiddenAct != "" && h.HiddenAct != "gelu_new" && h.HiddenAct != "gelu_pytorch_tanh" {
			return nil, fmt.Errorf("config.json: phi hidden_act %q is not supported (gelu_new)", h.HiddenAct)
		}
	case "":
		return nil, fmt.Errorf("config.json: no model_type")
	default:
		return nil, fmt.Errorf("config.json: model_type %q is not supported (llama, qwen2, qwen3, phi3, phi)", h.ModelType)
	}
	if c.Gated && h.HiddenAct != "" && h.HiddenAct != "silu" {
		return nil, fmt.Errorf("config.json: hidden_act %q is not supported for %s (silu)", h.HiddenAct, c.Family)
	}
	// Without tie_word_embeddings the config alone cannot say (openHF
	// decides from whether the files hold an lm_head); tied until then.
	c.Tied = h.Tied == nil || *h.Tied
	if given(h.Scaling) {
		var s hfScaling
		if err := json.Unmarshal(h.Scaling, &s); err != nil {
			return nil, fmt.Errorf("config.json: rope_scaling: %v", jsonError(err))
		}
		t := s.RopeType
		if t == "" {
			t = s.Type
		}
		switch t {
		case "", "default":
		case "linear":
			c.Rope.Type, c.Rope.Factor = "linear", s.Factor
		case "llama3":
			c.Rope.Type, c.Rope.Factor, c.Rope.LowFreq, c.Rope.HighFreq, c.Rope.OrigMax = "llama3", s.Factor, s.LowFreq, s.HighFreq, s.OrigMax
		case "longrope", "su":
			c.Rope.Type, c.Rope.Short, c.Rope.Long = "longrope", s.Short, s.Long
			c.Rope.OrigMax = h.OrigMax
			if s.OrigMax > 0 {
				c.Rope.OrigMax = s.OrigMax
			}
			if c.Rope.OrigMax == 0 {
				c.Rope.OrigMax = h.MaxPos
			}
			factor := float64(h.MaxPos) / float64(c.Rope.OrigMax)
			switch {
			case s.AttnFactor != nil:
				c.Rope.AttnFactor = *s.AttnFactor
			case factor > 1:
				c.Rope.AttnFactor = math.Sqrt(1 + math.Log(factor)/math.Log(float64(c.Rope.OrigMax)))
			}
		default:
			return nil, fmt.Errorf("config.json: rope_scaling type %q is not supported (linear, llama3, longrope)", t)
		}
	}
	c.BOS, c.EOS = firstID(h.BOS), firstID(h.EOS)
	if c.MaxPos <= 0 {
		c.MaxPos = 2048
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// qwenWindow reads Qwen's sliding-window attention: on from layer
// max_window_layers when use_sliding_window is set, or in the layers that
// layer_types names sliding_attention (off in every released Qwen2.5 and
// Qwen3 model). Whichever layers it is, documents within the window are
// computed exactly, so it becomes the Config's Window.
func (h *hfConfig) qwenWindow() (int, error) {
	sliding := h.UseWindow != nil && *h.UseWindow
	for l, t := range h.LayerTypes {
		switch t {
		case "full_attention":
		case "sliding_attention":
			sliding = true
		default:
			return 0, fmt.Errorf("config.json: %s layer %d has layer_types %q (full_attention or sliding_attention)", h.ModelType, l, t)
		}
	}
	if !sliding {
		return 0, nil
	}
	if h.window() == 0 {
		return 0, fmt.Errorf("config.json: %s uses sliding-window attention but gives no sliding_window", h.ModelType)
	}
	return h.window(), nil
}

// window is sliding_window, 0 where it is absent, null or not positive.
func (h *hfConfig) window() int {
	if h.Window != nil && *h.Window > 0 {
		return *h.Window
	}
	return 0
}

// given says a raw field is present and not null.
func given(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// notQuantized refuses the quantized safetensors checkpoints, whose
// weights are packed under other names and dtypes: transformers'
// quantization_config (GPTQ, AWQ, bitsandbytes, FP8) and MLX's
// quantization ({"group_size", "bits"}, uint32 words with scales and
// biases).
func (h *hfConfig) notQuantized() error {
	var q struct {
		Method string `json:"quant_method"`
		Bits   int    `json:"bits"`
	}
	if given(h.Quant) {
		json.Unmarshal(h.Quant, &q)
		if q.Method == "" {
			q.Method = "unnamed"
		}
		return fmt.Errorf("config.json: a %s-quantized checkpoint (quantization_config) is not supported: give the unquantized model, or a GGUF file", q.Method)
	}
	if json.Unmarshal(h.MLXQuant, &q) == nil && q.Bits > 0 {
		return fmt.Errorf("config.json: an MLX %d-bit checkpoint (quantization) is not supported: give the unquantized model, or a GGUF file", q.Bits)
	}
	return nil
}

// foldRopeParameters reads transformers 5's rope_parameters (one object
// holding rope_theta, rope_type, the scaling's fields and
// partial_rotary_factor; the top-level rope_theta and rope_scaling are then
// often absent) into the older top-level fields the rest of ParseHFConfig
// reads. Ignoring it would silently run with the default θ of 10000, a
// different model. Where both forms are given they must agree.
func (h *hfConfig) foldRopeParameters() error {
	if !given(h.RopeParams) {
		return nil
	}
	var p struct {
		Theta   *float64 `json:"rope_theta"`
		Partial *float64 `json:"partial_rotary_factor"`
	}
	if err := json.Unmarshal(h.RopeParams, &p); err != nil {
		return fmt.Errorf("config.json: rope_parameters: %v", jsonError(err))
	}
	if p.Theta == nil {
		// Models that mix attention kinds give one object per layer type.
		var byType map[string]json.RawMessage
		json.Unmarshal(h.RopeParams, &byType)
		for k, v := range byType {
			if len(v) > 0 && v[0] == '{' {
				return fmt.Errorf("config.json: rope_parameters per layer type (%q, ...) is not supported", k)
			}
		}
		return fmt.Errorf("config.json: rope_parameters has no rope_theta")
	}
	agree := func(name string, top, inner *float64) (*float64, error) {
		if top != nil && inner != nil && *top != *inner {
			return nil, fmt.Errorf("config.json: %s is %v but rope_parameters says %v", name, *top, *inner)
		}
		if inner != nil {
			return inner, nil
		}
		return top, nil
	}
	var err error
	if h.Theta, err = agree("rope_theta", h.Theta, p.Theta); err != nil {
		return err
	}
	if h.Partial, err = agree("partial_rotary_factor", h.Partial, p.Partial); err != nil {
		return err
	}
	if given(h.Scaling) {
		a, b := ropeScalingOf(h.Scaling), ropeScalingOf(h.RopeParams)
		if a == nil || b == nil || !reflect.DeepEqual(*a, *b) {
			return fmt.Errorf("config.json: rope_scaling and rope_parameters disagree")
		}
	}
	h.Scaling = h.RopeParams
	return nil
}

// ropeScalingOf parses a rope_scaling or rope_parameters object with its
// two spellings of the type ("type", "rope_type"; none is "default")
// made one, so the two forms compare equal when they say the same.
func ropeScalingOf(raw json.RawMessage) *hfScaling {
	var s hfScaling
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	if s.RopeType == "" {
		s.RopeType = s.Type
	}
	if s.RopeType == "" {
		s.RopeType = "default"
	}
	s.Type = ""
	return &s
}

// firstID reads a token id that config.json may give as a number, a list or null.
func firstID(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var l []int
	if json.Unmarshal(raw, &l) == nil && len(l) > 0 {
		return l[0]
	}
	return -1
}
