package synth

import (
	"encoding/json"
	"fmt"

	"github.com/cusprun/cusprun/core/gguf"
)

// Vocab is a made-up SentencePiece-style BPE vocabulary (Llama-2's scheme:
// "▁" marks a word start, unknown characters fall back to byte tokens), so
// synthetic models can tokenize any text. Ids: 0 <unk>, 1 <s>, 2 </s>,
// 3..258 the byte tokens <0x00>..<0xFF>, 259 <|endoftext|>, then single
// characters, then merged pieces in merge order, then filler pieces that no
// text produces.
type Vocab struct {
	Tokens []string
	Merges [][2]string // in priority order; Merges[i] makes token MergeStart+i
	Merged int         // id of the first merged piece
}

// singles are the characters that have their own token.
const singles = "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()äöüßéèàçñ"

// common are the first merges: frequent English and German pieces.
var common = []string{"▁t", "th", "he", "▁a", "in", "er", "an", "re", "on", "▁s", "en", "▁d", "ch", "▁w", "at", "nd",
	"es", "or", "ti", "ie", "▁the", "▁i", "ing", "▁de", "ion", "▁und", "▁der", "▁die", "is", "it", "ou", "▁o", "▁b", "▁c"}

// NewVocab builds a vocabulary of exactly n tokens (n >= 260).
func NewVocab(n int) (*Vocab, error) {
	if n < 260 {
		return nil, fmt.Errorf("a synthetic vocabulary needs at least 260 tokens, got %d", n)
	}
	v := &Vocab{}
	v.Tokens = append(v.Tokens, "<unk>", "<s>", "</s>")
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("<0x%02X>", b))
	}
	v.Tokens = append(v.Tokens, "<|endoftext|>")
	have := map[string]bool{}
	for _, t := range v.Tokens {
		have[t] = true
	}
	add := func(t string) bool {
		if len(v.Tokens) >= n || have[t] {
			return false
		}
		have[t] = true
		v.Tokens = append(v.Tokens, t)
		return true
	}
	for _, r := range singles {
		add(string(r))
	}
	v.Merged = len(v.Tokens)
	merge := func(a, b string) {
		if have[a] && have[b] && add(a+b) {
			v.Merges = append(v.Merges, [2]string{a, b})
		}
	}
	// Split each common piece as BPE would build it: its longest known prefix
	// plus the rest, which must be known.
	for _, p := range common {
		rs := []rune(p)
		for i := len(rs) - 1; i > 0; i-- {
			if have[string(rs[:i])] && have[string(rs[i:])] {
				merge(string(rs[:i]), string(rs[i:]))
				break
			}
		}
	}
	letters := []rune(singles)
	for _, a := range letters {
		for _, b := range letters[1:27] {
			merge(string(a), string(b))
		}
	}
	for len(v.Tokens) < n {
		add(fmt.Sprintf("\u2581p%d", len(v.Tokens)))
	}
	return v, nil
}

// TokenizerJSON writes the vocabulary as a Hugging Face tokenizer.json and
// tokenizer_config.json of the Llama-2 kind.
func (v *Vocab) TokenizerJSON() (tok, cfg []byte, err error) {
	vocab := make(map[string]int, len(v.Tokens))
	for i, t := range v.Tokens {
		vocab[t] = i
	}
	merges := make([]string, len(v.Merges))
	for i, m := range v.Merges {
		merges[i] = m[0] + " " + m[1]
	}
	special := func(id int) map[string]any {
		return map[string]any{"id": id, "content": v.Tokens[id], "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
	}
	doc := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens": []any{special(0), special(1), special(2), special(259)},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "\u2581"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "\u2581"}}},
		"pre_tokenizer": nil,
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}, map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 1}}, map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}}},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "\u2581"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "vocab": vocab, "merges": merges},
	}
	if tok, err = json.Marshal(doc); err != nil {
		return nil, nil, err
	}
	cfg, err = json.MarshalIndent(map[string]any{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>",
		"eos_token": "</s>", "unk_token": "<unk>", "model_max_length": 1 << 20, "tokenizer_class": "LlamaTokenizer",
		"clean_up_tokenization_spaces": false, "legacy": false}, "", "  ")
	return tok, cfg, err
}

// GGUF writes the vocabulary as llama.cpp's "llama" (SentencePiece)
// tokenizer keys: merged pieces score by merge order, so llama.cpp's
// highest-score-first merging follows the same priority as BPE ranks.
func (v *Vocab) GGUF(w *gguf.Writer) error {
	n := len(v.Tokens)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := range types {
		types[i] = 1
	}
	types[0], types[1], types[2], types[259] = 2, 3, 3, 3
	for b := 0; b < 256; b++ {
		types[3+b] = 6
	}
	for i := v.Merged; i < n; i++ {
		scores[i] = -float32(i - v.Merged + 1)
	}
	w.SetString("tokenizer.ggml.model", "llama")
	w.SetString("tokenizer.ggml.pre", "default")
	if err := w.Set("tokenizer.ggml.tokens", v.Tokens); err != nil {
		return err
	}
	if err := w.Set("tokenizer.ggml.scores", scores); err != nil {
		return err
	}
	if err := w.Set("tokenizer.ggml.token_type", types); err != nil {
		return err
	}
	w.SetUint32("tokenizer.ggml.bos_token_id", 1)
	w.SetUint32("tokenizer.ggml.eos_token_id", 2)
	w.SetUint32("tokenizer.ggml.unknown_token_id", 0)
	w.SetBool("tokenizer.ggml.add_bos_token", true)
	w.SetBool("tokenizer.ggml.add_eos_token", false)
	return nil
}
