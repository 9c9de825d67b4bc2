package tokenizer

import (
	"fmt"
	"sort"

	"github.com/cusprun/cusprun/core/gguf"
)

// ggufVocab is a vocabulary as GGUF tokenizer keys.
type ggufVocab struct {
	model  string // "llama" (SentencePiece-style, merges by score) or "gpt2" (byte-level, ranked merges)
	pre    string // gpt2: tokenizer.ggml.pre
	tokens []string
	types  []int32
	scores []float32 // llama
	merges []string  // gpt2, "left right" in rank order
	bos    int32
	eos    int32
	unk    int32
	pad    int32
	addBOS bool
	// llama: whether a space goes before the text (tokenizer.ggml.add_space_prefix)
	spacePrefix bool
}

// WriteGGUF writes the vocabulary as the tokenizer keys of a GGUF file, so
// that llama.cpp (and FromGGUF) tokenize text as this tokenizer does:
// tokenizer.ggml.model "llama" for SentencePiece-style BPE (Llama-2,
// Mistral, TinyLlama: byte fallback, U+2581 for spaces), with scores that
// reproduce the merge order (a merged piece scores minus the rank of the
// first merge that makes it), or "gpt2" for byte-level BPE (GPT-2, Llama-3,
// Qwen) with the merges and the pre-tokenizer's name in tokenizer.ggml.pre.
// Special added tokens become control tokens, other added tokens
// user-defined ones. nVocab, when larger than the tokenizer's vocabulary
// (a model's embedding padded to a round size), pads the token list with
// unused "[PADi]" tokens as llama.cpp's converter does; 0 means VocabSize.
//
// Known differences that the formats cannot express: a tokenizer.json
// normalizer other than the SentencePiece space handling (Qwen's NFC) has no
// GGUF key, llama.cpp's pre-tokenizers are known by name only, so other
// Split patterns are refused, and llama.cpp makes tokens with certain texts
// control tokens whatever their type (ggufAttrs: Qwen's ordinary "</s>", its
// non-special "<|fim_prefix|>").
func (t *Tokenizer) WriteGGUF(w *gguf.Writer, nVocab int) error {
	v, err := t.ggufVocab(nVocab)
	if err != nil {
		return err
	}
	return v.write(w)
}

func (v *ggufVocab) write(w *gguf.Writer) error {
	w.SetString("tokenizer.ggml.model", v.model)
	if v.model == "gpt2" {
		w.SetString("tokenizer.ggml.pre", v.pre)
	} else {
		w.SetString("tokenizer.ggml.pre", "default")
	}
	w.SetStrings("tokenizer.ggml.tokens", v.tokens)
	if v.model == "llama" {
		w.SetFloat32s("tokenizer.ggml.scores", v.scores)
	}
	w.SetInt32s("tokenizer.ggml.token_type", v.types)
	if v.model == "gpt2" {
		w.SetStrings("tokenizer.ggml.merges", v.merges)
	}
	ids := []struct {
		key string
		id  int32
	}{{"bos_token_id", v.bos}, {"eos_token_id", v.eos}, {"unknown_token_id", v.unk}, {"padding_token_id", v.pad}}
	for _, k := range ids {
		if k.id >= 0 {
			w.SetUint32("tokenizer.ggml."+k.key, uint32(k.id))
		}
	}
	w.SetBool("tokenizer.ggml.add_bos_token", v.addBOS)
	w.SetBool("tokenizer.ggml.add_eos_token", false)
	if v.model == "llama" {
		w.SetBool("tokenizer.ggml.add_space_prefix", v.spacePrefix)
	}
	return nil
}

// ggufVocab describes the vocabulary as GGUF keys.
func (t *Tokenizer) ggufVocab(nVocab int) (*ggufVocab, error) {
	n := len(t.pieces)
	if nVocab < n {
		if nVocab != 0 {
			return nil, fmt.Errorf("the model's vocabulary (%d) is smaller than its tokenizer's (%d)", nVocab, n)
		}
		nVocab = n
	}
	v := &ggufVocab{bos: t.bos, eos: t.eos, unk: t.unk, pad: t.pad, addBOS: t.AddsBOS()}
	if t.gguf != nil { // a GGUF vocabulary: write it back as it was
		g := t.gguf
		v.model, v.pre, v.spacePrefix = g.model, g.pre, t.spmSpacePrefix
		v.tokens = append([]string(nil), t.pieces...)
		v.types = append([]int32(nil), g.types...)
		if g.model == "llama" {
			v.scores = append([]float32(nil), t.scores...)
		} else {
			v.merges = append([]string(nil), g.merges...)
		}
		v.padTo(nVocab)
		return v, nil
	}
	switch {
	case usesByteLevel(t.pre):
		v.model = "gpt2"
		pre, err := t.ggufPreName()
		if err != nil {
			return nil, err
		}
		v.pre = pre
	case t.spmLike():
		v.model = "llama"
		v.spacePrefix = t.spacePrefix()
	default:
		return nil, fmt.Errorf("this tokenizer (neither byte-level BPE nor SentencePiece-style BPE) has no GGUF form")
	}
	if t.contPrefix != "" || t.eowSuffix != "" {
		return nil, fmt.Errorf("BPE with a continuing-subword prefix or end-of-word suffix has no GGUF form")
	}
	for _, nz := range t.normalizers {
		switch nz.(type) {
		case prepend, replace:
			if v.model != "llama" {
				return nil, fmt.Errorf("a byte-level tokenizer with a Prepend or Replace normalizer has no GGUF form")
			}
		case unicodeNorm: // Qwen's NFC: llama.cpp does not normalize; the known difference
		default:
			return nil, fmt.Errorf("normalizer %T has no GGUF form", nz)
		}
	}

	// merges in rank order
	type mg struct {
		rank       int32
		left, rght int32
		id         int32
	}
	ms := make([]mg, 0, len(t.merges))
	for k, m := range t.merges {
		ms = append(ms, mg{m.rank, int32(k >> 32), int32(uint32(k)), m.id})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].rank < ms[j].rank })

	v.tokens = make([]string, n)
	v.types = make([]int32, n)
	for i := range v.tokens {
		p := t.pieces[i]
		v.tokens[i] = p
		v.types[i] = ggufNormal
		if id, ok := t.ids[p]; !ok || int(id) != i {
			if !t.isAdded(i) {
				v.tokens[i] = fmt.Sprintf("[PAD%d]", i)
				v.types[i] = ggufUnused
			}
		}
	}
	for _, m := range []*matcher{t.added, t.addedNorm} {
		for _, a := range m.toks {
			if a.special {
				v.types[a.id] = ggufControl
			} else {
				v.types[a.id] = ggufUserDefined
			}
		}
	}
	if t.unk >= 0 {
		v.types[t.unk] = ggufUnknown
	}
	if v.model == "llama" {
		for _, id := range t.byteIDs {
			if id >= 0 && v.types[id] == ggufNormal {
				v.types[id] = ggufByte
			}
		}
		v.scores = make([]float32, n)
		for i, p := range v.tokens {
			// pieces no merge makes come last (single characters never
			// compete: llama.cpp only looks up pairs of symbols)
			if v.types[i] == ggufNormal && len([]rune(p)) > 1 {
				v.scores[i] = -1e9
			}
		}
		seen := make([]bool, n)
		for _, m := range ms {
			if !seen[m.id] {
				seen[m.id] = true
				v.scores[m.id] = -float32(m.rank)
			}
		}
	} else {
		v.merges = make([]string, len(ms))
		for i, m := range ms {
			v.merges[i] = t.pieces[m.left] + " " + t.pieces[m.rght]
		}
	}
	v.padTo(nVocab)
	return v, nil
}

// pad extends the token list to n with unused tokens.
func (v *ggufVocab) padTo(n int) {
	for i := len(v.tokens); i < n; i++ {
		v.tokens = append(v.tokens, fmt.Sprintf("[PAD%d]", i))
		v.types = append(v.types, ggufUnused)
		if v.model == "llama" {
			v.scores = append(v.scores, -1e9)
		}
	}
}

// isAdded reports whether id is an added token.
func (t *Tokenizer) isAdded(id int) bool {
	for _, m := range []*matcher{t.added, t.addedNorm} {
		if m == nil {
			continue
		}
		for _, a := range m.toks {
			if int(a.id) == id {
				return true
			}
		}
	}
	return false
}

// spmLike: SentencePiece-style BPE as tokenizer.json writes it (spaces as
// U+2581 by a Replace normalizer or a Metaspace pre-tokenizer, usually with
// byte fallback).
func (t *Tokenizer) spmLike() bool {
	if t.byteFallback {
		return true
	}
	for _, nz := range t.normalizers {
		if r, ok := nz.(replace); ok && r.from == " " && r.to == "\u2581" {
			return true
		}
	}
	for _, p := range t.pre {
		if _, ok := p.(metaspacePre); ok {
			return true
		}
	}
	return false
}

// spacePrefix: whether the tokenizer puts U+2581 before the text.
func (t *Tokenizer) spacePrefix() bool {
	for _, nz := range t.normalizers {
		if p, ok := nz.(prepend); ok && p.s == "\u2581" {
			return true
		}
	}
	for _, p := range t.pre {
		if m, ok := p.(metaspacePre); ok && m.scheme != prependNever {
			return true
		}
	}
	return false
}

// ggufPreName names a byte-level tokenizer's pre-tokenizer as llama.cpp
// knows it.
func (t *Tokenizer) ggufPreName() (string, error) {
	var kinds []string
	for _, p := range t.pre {
		switch p := p.(type) {
		case splitPre:
			f, ok := p.f.(fastSplit)
			if !ok || p.behavior != splitIsolated || p.invert {
				return "", fmt.Errorf("a Split pre-tokenizer pattern that llama.cpp does not know by name")
			}
			kinds = append(kinds, fastName(f))
		case byteLevelPre:
			if p.prefixSpace {
				return "", fmt.Errorf("ByteLevel with add_prefix_space has no GGUF form")
			}
			if p.f != nil {
				f, ok := p.f.(fastSplit)
				if !ok {
					return "", fmt.Errorf("unknown ByteLevel split")
				}
				kinds = append(kinds, fastName(f))
			}
		default:
			return "", fmt.Errorf("pre-tokenizer %T has no GGUF form", p)
		}
	}
	if len(kinds) != 1 || kinds[0] == "" {
		return "", fmt.Errorf("pre-tokenizers %v have no GGUF name", kinds)
	}
	return kinds[0], nil
}

func fastName(f fastSplit) string {
	switch {
	case f.gpt2:
		return "gpt-2"
	case f.maxDigits == 3 && f.ci && f.tail:
		return "llama-bpe"
	case f.maxDigits == 1 && f.ci && f.tail:
		return "qwen2"
	}
	return ""
}

// ggufSource is what a GGUF vocabulary had that the tokenizer does not use
// otherwise, kept so it can be written back (and restricted).
type ggufSource struct {
	name   string // general.name
	model  string
	pre    string
	types  []int32
	merges []string
	// for WriteHF: tokenizer.chat_template and tokenizer.ggml.add_eos_token
	chatTemplate string
	addEOS       bool
}

// mapMeta is GGUF metadata held in a map (a vocabulary built in memory).
type mapMeta map[string]any

func (m mapMeta) String(k string) (string, bool)    { v, ok := m[k].(string); return v, ok }
func (m mapMeta) Strings(k string) ([]string, bool) { v, ok := m[k].([]string); return v, ok }
func (m mapMeta) Float32s(k string) ([]float32, bool) {
	v, ok := m[k].([]float32)
	return v, ok
}
func (m mapMeta) Int32s(k string) ([]int32, bool) { v, ok := m[k].([]int32); return v, ok }
func (m mapMeta) Int(k string) (int64, bool)      { v, ok := m[k].(int64); return v, ok }
func (m mapMeta) Bool(k string) (bool, bool)      { v, ok := m[k].(bool); return v, ok }

// meta is the vocabulary as metadata FromGGUF reads.
func (v *ggufVocab) meta(name string) mapMeta {
	m := mapMeta{"tokenizer.ggml.model": v.model, "tokenizer.ggml.tokens": v.tokens, "tokenizer.ggml.token_type": v.types,
		"tokenizer.ggml.add_bos_token": v.addBOS, "general.name": name}
	if v.model == "gpt2" {
		m["tokenizer.ggml.pre"] = v.pre
		m["tokenizer.ggml.merges"] = v.merges
	} else {
		m["tokenizer.ggml.scores"] = v.scores
		m["tokenizer.ggml.add_space_prefix"] = v.spacePrefix
	}
	for k, id := range map[string]int32{"bos_token_id": v.bos, "eos_token_id": v.eos, "unknown_token_id": v.unk, "padding_token_id": v.pad} {
		if id >= 0 {
			m["tokenizer.ggml."+k] = int64(id)
		}
	}
	return m
}
