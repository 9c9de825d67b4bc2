package model

import (
	"encoding/json"
	"fmt"
)

// HFConfigJSON writes a config.json that transformers loads as this
// family with this architecture (used by synth; exporters patch the source's
// own config.json instead, to keep every field the user had).
func HFConfigJSON(c *Config, dtype string) ([]byte, error) {
	if c.LayerFFN != nil || c.LayerKVHeads != nil {
		return nil, fmt.Errorf("config.json cannot hold per-layer widths; use GGUF (deci) for an adaptive model")
	}
	arch := map[string]string{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
		"phi3": "Phi3ForCausalLM", "phi": "PhiForCausalLM"}[c.Family]
	if arch == "" {
		return nil, fmt.Errorf("unknown family %q", c.Family)
	}
	m := map[string]any{
		"architectures":           []string{arch},
		"model_type":              c.Family,
		"hidden_size":             c.Hidden,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"num_key_value_heads":     c.KVHeads,
		"head_dim":                c.HeadDim,
		"intermediate_size":       c.FFN,
		"vocab_size":              c.Vocab,
		"max_position_embeddings": c.MaxPos,
		"rope_theta":              c.Rope.Theta,
		"tie_word_embeddings":     c.Tied,
		"bos_token_id":            c.BOS,
		"eos_token_id":            c.EOS,
		"torch_dtype":             dtype,
	}
	if c.LayerNorm {
		m["layer_norm_eps"] = c.NormEps
		m["hidden_act"] = "gelu_new"
	} else {
		m["rms_norm_eps"] = c.NormEps
		m["hidden_act"] = "silu"
	}
	if c.Rope.Dim != c.HeadDim {
		m["partial_rotary_factor"] = float64(c.Rope.Dim) / float64(c.HeadDim)
	}
	switch c.Family {
	case "llama":
		m["attention_bias"] = false
		m["mlp_bias"] = false
	case "qwen3":
		m["attention_bias"] = c.QKVBias
	case "phi3":
		m["original_max_position_embeddings"] = c.MaxPos
		if c.Window > 0 {
			m["sliding_window"] = c.Window
		}
	}
	switch c.Rope.Type {
	case "linear":
		m["rope_scaling"] = map[string]any{"rope_type": "linear", "factor": c.Rope.Factor}
	case "llama3":
		m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": c.Rope.Factor, "low_freq_factor": c.Rope.LowFreq,
			"high_freq_factor": c.Rope.HighFreq, "original_max_position_embeddings": c.Rope.OrigMax}
	case "longrope":
		m["rope_scaling"] = map[string]any{"type": "longrope", "short_factor": c.Rope.Short, "long_factor": c.Rope.Long}
		m["original_max_position_embeddings"] = c.Rope.OrigMax
	}
	return json.MarshalIndent(m, "", "  ")
}
