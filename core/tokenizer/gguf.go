package tokenizer

import (
	"fmt"
	"strings"
)

// GGUF token types (tokenizer.ggml.token_type).
const (
	ggufNormal      = 1
	ggufUnknown     = 2
	ggufControl     = 3
	ggufUserDefined = 4
	ggufUnused      = 5
	ggufByte        = 6
)

// llama.cpp's pre-tokenizer regexes, by tokenizer.ggml.pre.
const (
	reGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	reLlama3 = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	reQwen2  = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// ggufPre maps a pre-tokenizer name to its regexes and whether whole words
// found in the vocabulary skip the merges.
func ggufPre(name string) (res []string, ignoreMerges bool, err error) {
	switch name {
	case "", "default":
		return []string{`[\p{P}\$\+<=>\^~\|]+`, reGPT2, `\p{N}+`, `[0-9][0-9][0-9]`}, false, nil
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "midm-2.0", "lfm2":
		return []string{reLlama3}, true, nil
	case "dbrx", "smaug-bpe", "chatglm-bpe", "glm4":
		return []string{reLlama3}, false, nil
	case "gpt-2", "phi-2", "mpt", "olmo", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "gigachat", "a.x-4.0", "mellum", "modern-bert", "trillion", "granite-docling", "jais":
		return []string{reGPT2}, false, nil
	case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "kormo":
		return []string{reQwen2}, false, nil
	case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b":
		return []string{`\p{N}`, reGPT2}, false, nil
	}
	return nil, false, fmt.Errorf("GGUF pre-tokenizer %q is not supported", name)
}

// FromGGUF builds a Tokenizer from a GGUF file's embedded vocabulary, the way
// llama.cpp tokenizes with it.
func FromGGUF(m GGUFMeta) (*Tokenizer, error) {
	model, _ := m.String("tokenizer.ggml.model")
	toks, ok := m.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) == 0 {
		return nil, fmt.Errorf("GGUF: no tokenizer.ggml.tokens")
	}
	if len(toks) >= 1<<24 {
		return nil, fmt.Errorf("GGUF: %d tokens is too many", len(toks))
	}
	types, _ := m.Int32s("tokenizer.ggml.token_type")
	if types != nil && len(types) != len(toks) {
		return nil, fmt.Errorf("GGUF: %d token types for %d tokens", len(types), len(toks))
	}
	t := newTokenizer(len(toks))
	t.name = "gguf:" + model
	for i, s := range toks {
		t.pieces[i] = s
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = int32(i)
		}
	}
	t.setByteIDs()
	typ := func(i int) int32 {
		if types == nil {
			return ggufNormal
		}
		return types[i]
	}

	idKey := func(k string) int32 {
		v, ok := m.Int(k)
		if !ok || v < 0 || v >= int64(len(toks)) {
			return -1
		}
		return int32(v)
	}
	t.bos = idKey("tokenizer.ggml.bos_token_id")
	t.eos = idKey("tokenizer.ggml.eos_token_id")
	t.unk = idKey("tokenizer.ggml.unknown_token_id")
	t.pad = idKey("tokenizer.ggml.padding_token_id")
	src := &ggufSource{model: model, types: make([]int32, len(toks))}
	for i := range src.types {
		src.types[i] = typ(i)
	}

	switch model {
	case "llama":
		t.kind = modelSPM
		scores, ok := m.Float32s("tokenizer.ggml.scores")
		if !ok || len(scores) != len(toks) {
			return nil, fmt.Errorf("GGUF: llama vocabulary needs one score per token")
		}
		t.scores = scores
		t.spmEscape = true
		t.spmSpacePrefix = true
		if v, ok := m.Bool("tokenizer.ggml.add_space_prefix"); ok {
			t.spmSpacePrefix = v
		}
		t.addBOS = true
		if t.unk < 0 {
			t.unk = 0
		}
		t.setMetaSplit()
		t.decoders = []decoder{replaceDec{"\u2581", " "}, byteFallbackDec{}, fuseDec{}}
		if t.spmSpacePrefix {
			t.decoders = append(t.decoders, stripDec{content: ' ', start: 1})
		}
	case "gpt2":
		t.kind = modelBPE
		pre, _ := m.String("tokenizer.ggml.pre")
		res, ignore, err := ggufPre(pre)
		if err != nil {
			return nil, err
		}
		t.ignoreMerges = ignore
		if t.pre, err = regexSeq(res...); err != nil {
			return nil, err
		}
		t.pre = append(t.pre, byteLevelPre{})
		merges, _ := m.Strings("tokenizer.ggml.merges")
		src.pre, src.merges = pre, merges
		t.merges = make(map[uint64]merge, len(merges))
		for rank, s := range merges {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("GGUF: merge %d %q is not two tokens", rank, s)
			}
			ia, ok1 := t.ids[a]
			ib, ok2 := t.ids[b]
			im, ok3 := t.ids[a+b]
			if !ok1 || !ok2 || !ok3 {
				continue // llama.cpp would not find the merged token either
			}
			if _, dup := t.merges[pairKey(ia, ib)]; !dup {
				t.merges[pairKey(ia, ib)] = merge{rank: int32(rank), id: im}
			}
		}
		t.addBOS = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" || pre == "falcon3" || pre == "pixtral"
		t.decoders = []decoder{byteLevelDec{}}
	default:
		return nil, fmt.Errorf("GGUF: tokenizer model %q is not supported (llama or gpt2)", model)
	}
	if v, ok := m.Bool("tokenizer.ggml.add_bos_token"); ok {
		t.addBOS = v
	}
	src.addEOS, _ = m.Bool("tokenizer.ggml.add_eos_token")
	src.chatTemplate, _ = m.String("tokenizer.chat_template")

	// Control, unknown and user-defined tokens are matched in the text before
	// the model runs, control and unknown ones only when parsing specials,
	// with the attributes and the order llama.cpp gives them.
	name, _ := m.String("general.name")
	src.name = name
	attrs, texts := ggufAttrs(m, toks, typ)
	t.special = make([]bool, len(toks))
	for i, a := range attrs {
		t.special[i] = a&(attrControl|attrUnknown) != 0
	}
	added := ggufAdded(attrs, texts)
	t.added = newMatcher(added)
	t.added.llama = true
	t.gguf = src
	return t, nil
}
