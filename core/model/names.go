package model

import "fmt"

// hfName is a role's tensor name in a Hugging Face checkpoint of this family.
func hfName(c *Config, r Role, l int) string {
	p := fmt.Sprintf("model.layers.%d.", l)
	phi := c.Family == "phi"
	switch r {
	case RoleEmbed:
		return "model.embed_tokens.weight"
	case RoleFinalNorm:
		if phi {
			return "model.final_layernorm.weight"
		}
		return "model.norm.weight"
	case RoleFinalNormB:
		return "model.final_layernorm.bias"
	case RoleLMHead:
		return "lm_head.weight"
	case RoleLMHeadB:
		return "lm_head.bias"
	case RoleAttnNorm:
		return p + "input_layernorm.weight"
	case RoleAttnNormB:
		return p + "input_layernorm.bias"
	case RoleQ:
		return p + "self_attn.q_proj.weight"
	case RoleK:
		return p + "self_attn.k_proj.weight"
	case RoleV:
		return p + "self_attn.v_proj.weight"
	case RoleQKV:
		return p + "self_attn.qkv_proj.weight"
	case RoleO:
		if phi {
			return p + "self_attn.dense.weight"
		}
		return p + "self_attn.o_proj.weight"
	case RoleQB:
		return p + "self_attn.q_proj.bias"
	case RoleKB:
		return p + "self_attn.k_proj.bias"
	case RoleVB:
		return p + "self_attn.v_proj.bias"
	case RoleOB:
		return p + "self_attn.dense.bias"
	case RoleQNorm:
		return p + "self_attn.q_norm.weight"
	case RoleKNorm:
		return p + "self_attn.k_norm.weight"
	case RoleFFNNorm:
		return p + "post_attention_layernorm.weight"
	case RoleGate:
		return p + "mlp.gate_proj.weight"
	case RoleUp:
		if phi {
			return p + "mlp.fc1.weight"
		}
		return p + "mlp.up_proj.weight"
	case RoleGateUp:
		return p + "mlp.gate_up_proj.weight"
	case RoleDown:
		if phi {
			return p + "mlp.fc2.weight"
		}
		return p + "mlp.down_proj.weight"
	case RoleUpB:
		return p + "mlp.fc1.bias"
	case RoleDownB:
		return p + "mlp.fc2.bias"
	}
	return ""
}

// ggufName is a role's tensor name as llama.cpp writes it.
func ggufName(c *Config, r Role, l int) string {
	p := fmt.Sprintf("blk.%d.", l)
	switch r {
	case RoleEmbed:
		return "token_embd.weight"
	case RoleFinalNorm:
		return "output_norm.weight"
	case RoleFinalNormB:
		return "output_norm.bias"
	case RoleLMHead:
		return "output.weight"
	case RoleLMHeadB:
		return "output.bias"
	case RoleAttnNorm:
		return p + "attn_norm.weight"
	case RoleAttnNormB:
		return p + "attn_norm.bias"
	case RoleQ:
		return p + "attn_q.weight"
	case RoleK:
		return p + "attn_k.weight"
	case RoleV:
		return p + "attn_v.weight"
	case RoleQKV:
		return p + "attn_qkv.weight"
	case RoleO:
		return p + "attn_output.weight"
	case RoleQB:
		return p + "attn_q.bias"
	case RoleKB:
		return p + "attn_k.bias"
	case RoleVB:
		return p + "attn_v.bias"
	case RoleOB:
		return p + "attn_output.bias"
	case RoleQNorm:
		return p + "attn_q_norm.weight"
	case RoleKNorm:
		return p + "attn_k_norm.weight"
	case RoleFFNNorm:
		return p + "ffn_norm.weight"
	case RoleGate:
		return p + "ffn_gate.weight"
	case RoleUp, RoleGateUp: // llama.cpp's phi3 keeps gate and up fused in ffn_up
		return p + "ffn_up.weight"
	case RoleDown:
		return p + "ffn_down.weight"
	case RoleUpB:
		return p + "ffn_up.bias"
	case RoleDownB:
		return p + "ffn_down.bias"
	}
	return ""
}

// TensorSpec is one tensor a model of this config holds, with its role and
// the shape the engine expects ([rows, cols]; a vector is [n]).
type TensorSpec struct {
	Role  Role
	Layer int // -1 for global tensors
	Shape []int
}

// Specs lists every tensor of the model in file order, as the Hugging Face
// layout has them (fused roles for phi3). Exporters and synth use it, so a
// written model and a read one always agree.
func (c *Config) Specs() []TensorSpec {
	H, V := c.Hidden, c.Vocab
	s := []TensorSpec{{RoleEmbed, -1, []int{V, H}}}
	for l := 0; l < c.Layers; l++ {
		s = append(s, c.LayerSpecs(l)...)
	}
	add := func(r Role, shape ...int) { s = append(s, TensorSpec{r, -1, shape}) }
	add(RoleFinalNorm, H)
	if c.LayerNorm {
		add(RoleFinalNormB, H)
	}
	if !c.Tied {
		add(RoleLMHead, V, H)
	}
	if c.HeadBias {
		add(RoleLMHeadB, V)
	}
	return s
}

// LayerSpecs is the one table of decoder layer l's tensors for this config,
// in file order: which roles the family has (fused ones for phi3) and their
// shapes. Specs, the model check and LoadLayer all read it.
func (c *Config) LayerSpecs(l int) []TensorSpec {
	H, hd := c.Hidden, c.HeadDim
	nq, nkv, F := c.HeadsAt(l)*hd, c.KVHeadsAt(l)*hd, c.FFNAt(l)
	var s []TensorSpec
	add := func(r Role, shape ...int) { s = append(s, TensorSpec{r, l, shape}) }
	add(RoleAttnNorm, H)
	if c.LayerNorm {
		add(RoleAttnNormB, H)
	}
	if c.Family == "phi3" {
		add(RoleQKV, nq+2*nkv, H)
	} else {
		add(RoleQ, nq, H)
		add(RoleK, nkv, H)
		add(RoleV, nkv, H)
	}
	if c.QKVBias {
		add(RoleQB, nq)
		add(RoleKB, nkv)
		add(RoleVB, nkv)
	}
	if c.QKNorm {
		add(RoleQNorm, hd)
		add(RoleKNorm, hd)
	}
	add(RoleO, H, nq)
	if c.OBias {
		add(RoleOB, H)
	}
	if !c.Parallel {
		add(RoleFFNNorm, H)
	}
	switch {
	case c.Family == "phi3":
		add(RoleGateUp, 2*F, H)
	case c.Gated:
		add(RoleGate, F, H)
		add(RoleUp, F, H)
	default:
		add(RoleUp, F, H)
	}
	if c.MLPBias {
		add(RoleUpB, F)
	}
	add(RoleDown, H, F)
	if c.MLPBias {
		add(RoleDownB, H)
	}
	return s
}

// HFName and GGUFName expose the naming to exporters.
func (c *Config) HFName(r Role, l int) string   { return hfName(c, r, l) }
func (c *Config) GGUFName(r Role, l int) string { return ggufName(c, r, l) }
