package gguf

import (
	"fmt"
	"strconv"
	"strings"
)

// File types a quantized GGUF can be asked for, by the name llama-quantize
// gives them, with the type most of their matrices get.
var fileTypes = map[string]GGMLType{
	"q4_0": TypeQ4_0, "q4_1": TypeQ4_1, "q5_0": TypeQ5_0, "q5_1": TypeQ5_1, "q8_0": TypeQ8_0,
	"q4_k_m": TypeQ4_K, "q5_k_m": TypeQ5_K, "q6_k": TypeQ6_K,
	"iq4_nl": TypeIQ4_NL, "iq4_xs": TypeIQ4_XS,
}

// FileTypeNames lists the file types TensorType knows, sorted.
func FileTypeNames() []string {
	return []string{"iq4_nl", "iq4_xs", "q4_0", "q4_1", "q4_k_m", "q5_0", "q5_1", "q5_k_m", "q6_k", "q8_0"}
}

// LlamaFileType is llama.cpp's number for a file type (general.file_type).
func LlamaFileType(ftype string) (uint32, bool) {
	n, ok := map[string]uint32{"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q4_k_m": 15, "q5_k_m": 17, "q6_k": 18,
		"iq4_nl": 25, "iq4_xs": 30}[ftype]
	return n, ok
}

// QuantModel is what the type of one tensor depends on besides its name and
// shape: the number of layers, whether the model has no output.weight (its
// embedding doubles as the output matrix), and how many query heads share
// each KV head (in the first layer).
type QuantModel struct {
	Layers int
	Tied   bool
	GQA    int
}

// TensorType returns the GGML type llama.cpp's quantizer (llama-quantize,
// no importance matrix, no overrides) gives a tensor when making file type
// ftype, following llama_tensor_get_type in src/llama-quant.cpp for the
// dense (non-MoE) families cusprun handles: the output matrix (or a tied
// embedding) gets Q6_K, attn_v / attn_qkv and ffn_down of the layers
// use_more_bits picks get Q6_K in the _k_m mixes; in the IQ4 mixes attn_v
// gets Q5_K when four or more query heads share a KV head, and ffn_down of
// the first eighth of the layers Q5_K; a tensor whose rows are not whole
// blocks of its type falls back to a 32-value type (Q4_K to Q5_0, Q5_K to
// Q5_1, Q6_K to Q8_0, IQ4_XS to IQ4_NL), or to F16. quantize is false for
// tensors llama.cpp leaves as they are (vectors, norms).
func TensorType(ftype, name string, shape []int, m QuantModel) (t GGMLType, quantize bool, err error) {
	def, ok := fileTypes[ftype]
	if !ok {
		return 0, false, fmt.Errorf("unknown quantized file type %q (known: %s)", ftype, strings.Join(FileTypeNames(), ", "))
	}
	if !quantizable(name, shape) {
		return 0, false, nil
	}
	cols := int64(shape[len(shape)-1])
	t = def
	layer, inLayer := layerOf(name)
	moreBits := inLayer && useMoreBits(layer, m.Layers)
	kMix := ftype == "q4_k_m" || ftype == "q5_k_m"
	iq4Mix := ftype == "iq4_nl" || ftype == "iq4_xs"
	switch cat := category(name); {
	case cat == "output" || (m.Tied && cat == "token_embd"):
		if blk, _, _ := t.Block(); cols%blk != 0 {
			t = TypeQ8_0
		} else if t != TypeQ8_0 {
			t = TypeQ6_K
		}
	case cat == "attn_v":
		if kMix && moreBits {
			t = TypeQ6_K
		}
		if iq4Mix && m.GQA >= 4 {
			t = TypeQ5_K
		}
	case cat == "ffn_down":
		if kMix && moreBits {
			t = TypeQ6_K
		}
		if iq4Mix && inLayer && layer < m.Layers/8 {
			t = TypeQ5_K
		}
	}
	return FallbackType(t, cols), true, nil
}

// quantizable is llama.cpp's tensor_allows_quantization for these families:
// matrices (two or more dimensions above one) whose name ends in "weight",
// norms excepted.
func quantizable(name string, shape []int) bool {
	dims := len(shape)
	for dims > 1 && shape[len(shape)-dims] == 1 { // ggml drops outer dimensions of 1
		dims--
	}
	if dims < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	return !strings.Contains(name, "_norm.weight") && !strings.Contains(name, "ffn_gate_inp.weight") &&
		name != "position_embd.weight" && name != "token_types.weight"
}

// category is llama.cpp's tensor_get_category, reduced to the categories
// whose types differ for the file types above.
func category(name string) string {
	switch {
	case name == "output.weight":
		return "output"
	case name == "token_embd.weight":
		return "token_embd"
	case strings.Contains(name, "attn_qkv.weight"), strings.Contains(name, "attn_kv_b.weight"), strings.Contains(name, "attn_v.weight"):
		return "attn_v"
	case strings.Contains(name, "attn_k.weight"), strings.Contains(name, "attn_q.weight"), strings.Contains(name, "attn_output.weight"),
		strings.Contains(name, "ffn_up"), strings.Contains(name, "ffn_gate"):
		return "other"
	case strings.Contains(name, "ffn_down"):
		return "ffn_down"
	}
	return "other"
}

// layerOf reads N from a "blk.N." name. llama.cpp counts attn_v and
// ffn_down tensors in file order; with one of each per layer, stored layer
// by layer, that count is the layer number.
func layerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0
}

// useMoreBits is llama.cpp's choice of the layers that keep more bits: the
// first and last eighth, and every third layer between.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// FallbackType is llama.cpp's tensor_type_fallback: a type whose block does
// not divide the row length is replaced by a 32-value type (Q4_K by Q5_0,
// Q5_K by Q5_1, Q6_K by Q8_0, Q2_K and Q3_K by Q4_0, IQ4_XS by IQ4_NL), or
// F16 when even that does not divide it.
func FallbackType(t GGMLType, cols int64) GGMLType {
	blk, _, _ := t.Block()
	if cols%blk == 0 {
		return t
	}
	switch t {
	case TypeQ2_K, TypeQ3_K:
		t = TypeQ4_0
	case TypeQ4_K:
		t = TypeQ5_0
	case TypeQ5_K:
		t = TypeQ5_1
	case TypeQ6_K:
		t = TypeQ8_0
	case TypeIQ4_XS:
		t = TypeIQ4_NL
	}
	if blk, _, _ := t.Block(); cols%blk != 0 {
		return TypeF16
	}
	return t
}
