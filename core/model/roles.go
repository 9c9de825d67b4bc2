package model

import "fmt"

// Role names a weight by what it does, independent of any file's naming.
type Role int

const (
	RoleEmbed Role = iota
	RoleFinalNorm
	RoleFinalNormB
	RoleLMHead
	RoleLMHeadB
	// per layer
	RoleAttnNorm
	RoleAttnNormB
	RoleQ
	RoleK
	RoleV
	RoleQKV // fused q,k,v rows (phi3)
	RoleO
	RoleQB
	RoleKB
	RoleVB
	RoleOB
	RoleQNorm
	RoleKNorm
	RoleFFNNorm
	RoleGate
	RoleUp
	RoleGateUp // fused gate,up rows (phi3)
	RoleDown
	RoleUpB
	RoleDownB
)

// roleNames are the roles' names in messages, after llama.cpp's tensor
// names (a bias adds "_bias").
var roleNames = [...]string{
	RoleEmbed: "token_embd", RoleFinalNorm: "output_norm", RoleFinalNormB: "output_norm_bias",
	RoleLMHead: "output", RoleLMHeadB: "output_bias",
	RoleAttnNorm: "attn_norm", RoleAttnNormB: "attn_norm_bias",
	RoleQ: "attn_q", RoleK: "attn_k", RoleV: "attn_v", RoleQKV: "attn_qkv", RoleO: "attn_output",
	RoleQB: "attn_q_bias", RoleKB: "attn_k_bias", RoleVB: "attn_v_bias", RoleOB: "attn_output_bias",
	RoleQNorm: "attn_q_norm", RoleKNorm: "attn_k_norm",
	RoleFFNNorm: "ffn_norm",
	RoleGate:    "ffn_gate", RoleUp: "ffn_up", RoleGateUp: "ffn_gate_up", RoleDown: "ffn_down",
	RoleUpB: "ffn_up_bias", RoleDownB: "ffn_down_bias",
}

// String is the role's name, like "attn_q".
func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// layerFields is the one list of the weights a Layer holds: every unfused
// per-layer role, in file order, with the field that holds it. Which of them
// a layer of a given config has, and their shapes, is Config.LayerSpecs.
var layerFields = [...]struct {
	role  Role
	field func(*Layer) **Weight
}{
	{RoleAttnNorm, func(L *Layer) **Weight { return &L.AttnNorm }},
	{RoleAttnNormB, func(L *Layer) **Weight { return &L.AttnNormB }},
	{RoleQ, func(L *Layer) **Weight { return &L.Q }},
	{RoleK, func(L *Layer) **Weight { return &L.K }},
	{RoleV, func(L *Layer) **Weight { return &L.V }},
	{RoleQB, func(L *Layer) **Weight { return &L.QB }},
	{RoleKB, func(L *Layer) **Weight { return &L.KB }},
	{RoleVB, func(L *Layer) **Weight { return &L.VB }},
	{RoleQNorm, func(L *Layer) **Weight { return &L.QNorm }},
	{RoleKNorm, func(L *Layer) **Weight { return &L.KNorm }},
	{RoleO, func(L *Layer) **Weight { return &L.O }},
	{RoleOB, func(L *Layer) **Weight { return &L.OB }},
	{RoleFFNNorm, func(L *Layer) **Weight { return &L.FFNNorm }},
	{RoleGate, func(L *Layer) **Weight { return &L.Gate }},
	{RoleUp, func(L *Layer) **Weight { return &L.Up }},
	{RoleUpB, func(L *Layer) **Weight { return &L.UpB }},
	{RoleDown, func(L *Layer) **Weight { return &L.Down }},
	{RoleDownB, func(L *Layer) **Weight { return &L.DownB }},
}

// RoleWeight is one of a layer's weights with its role.
type RoleWeight struct {
	Role Role
	W    *Weight
}

// Weights lists the layer's weights by role in file order, unfused (phi3's
// qkv and gate_up as their parts); roles the layer does not hold are left
// out.
func (L *Layer) Weights() []RoleWeight {
	out := make([]RoleWeight, 0, len(layerFields))
	for _, f := range layerFields {
		if w := *f.field(L); w != nil {
			out = append(out, RoleWeight{f.role, w})
		}
	}
	return out
}

// Weight is the layer's weight of role r, or nil when it holds none (fused
// roles included: a Layer holds their parts).
func (L *Layer) Weight(r Role) *Weight {
	if p := L.slot(r); p != nil {
		return *p
	}
	return nil
}

// slot is the field holding role r, nil for roles a Layer has no field for.
func (L *Layer) slot(r Role) **Weight {
	for _, f := range layerFields {
		if f.role == r {
			return f.field(L)
		}
	}
	return nil
}
