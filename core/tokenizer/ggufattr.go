package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// tokenAttr is a token's attributes the way llama.cpp keeps them
// (llama_token_attr). The GGUF token type gives the first value; llama.cpp
// then changes some by the token's text or the model's name, and those
// changes decide which text is matched as a whole token before the model
// runs, so FromGGUF has to make the same ones.
type tokenAttr uint16

const (
	attrUnknown tokenAttr = 1 << iota
	attrUnused
	attrNormal
	attrControl
	attrUserDefined
	attrByte
	attrLStrip // swallows ASCII whitespace on its left
	attrRStrip // swallows ASCII whitespace on its right
)

// typeAttr is llama.cpp's mapping from GGUF token type to attribute; other
// values (0 = undefined) give no attribute.
func typeAttr(ty int32) tokenAttr {
	switch ty {
	case ggufNormal:
		return attrNormal
	case ggufUnknown:
		return attrUnknown
	case ggufControl:
		return attrControl
	case ggufUserDefined:
		return attrUserDefined
	case ggufUnused:
		return attrUnused
	case ggufByte:
		return attrByte
	}
	return 0
}

// eogTexts are the texts llama.cpp treats as end of generation and so makes
// control tokens whatever their GGUF type (llama_vocab::impl::load: "control-looking
// token ... its type will be overridden"). The end-of-turn and end-of-message
// lists it checks first are all in this one.
var eogTexts = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
	"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
	"<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
	"<｜end▁of▁sentence｜>", "[e~[",
}

// fimKinds are the fill-in-the-middle tokens llama.cpp looks for by text
// when the GGUF names none (keys tokenizer.ggml.<key>), also making them
// control tokens.
var fimKinds = []struct {
	keys  []string
	texts []string
}{
	{[]string{"fim_pre_token_id", "prefix_token_id"}, []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}},
	{[]string{"fim_suf_token_id", "suffix_token_id"}, []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}},
	{[]string{"fim_mid_token_id", "middle_token_id"}, []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}},
	{[]string{"fim_pad_token_id"}, []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
	{[]string{"fim_rep_token_id"}, []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
	{[]string{"fim_sep_token_id"}, []string{"<|file_sep|>"}},
}

// ggufAttrs gives every token llama.cpp's attributes, and the texts it
// matches them by (an empty token is "[EMPTY_i]" there).
func ggufAttrs(m GGUFMeta, toks []string, typ func(int) int32) ([]tokenAttr, []string) {
	attrs := make([]tokenAttr, len(toks))
	texts := make([]string, len(toks))
	byText := make(map[string]int, len(toks))
	for i, s := range toks {
		attrs[i] = typeAttr(typ(i))
		if s == "" {
			s = fmt.Sprintf("[EMPTY_%d]", i)
		}
		texts[i] = s
		if _, dup := byText[s]; !dup {
			byText[s] = i
		}
	}
	find := func(s string) (int, bool) { i, ok := byText[s]; return i, ok }
	has := func(s string) bool { _, ok := byText[s]; return ok }

	// Fill-in-the-middle tokens the GGUF does not name: llama.cpp takes the
	// first candidate it meets in a hash map; here the lowest id (real
	// vocabularies hold one candidate of a kind).
	for _, k := range fimKinds {
		named := false
		for _, key := range k.keys {
			if v, ok := m.Int("tokenizer.ggml." + key); ok && v >= 0 && v < int64(len(toks)) {
				named = true
			}
		}
		if named {
			continue
		}
		best := -1
		for _, s := range k.texts {
			if i, ok := find(s); ok && (best < 0 || i < best) {
				best = i
			}
		}
		if best >= 0 {
			attrs[best] |= attrControl
		}
	}
	for _, s := range eogTexts {
		if i, ok := find(s); ok {
			attrs[i] |= attrControl
		}
	}
	// gpt-oss: these are always rendered, so user-defined.
	for _, s := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if i, ok := find(s); ok {
			attrs[i] = attrUserDefined
		}
	}
	// o200k_harmony and solar-open: "<|end|>" is not an end of generation.
	call := has("<|call|>") || has("<|calls|>")
	if i, ok := find("<|end|>"); ok && call && (has("<|return|>") || has("<|flush|>")) {
		attrs[i] = attrUserDefined
	}
	// gemma4 and paddleocr: "</s>" is an ordinary token beside "<|tool_response>".
	if i, ok := find("</s>"); ok && has("<|tool_response>") {
		attrs[i] = attrNormal
	}

	// Whitespace stripping, set by model name in llama.cpp.
	name, _ := m.String("general.name")
	name = strings.ToLower(name)
	pre, _ := m.String("tokenizer.ggml.pre")
	arch, _ := m.String("general.architecture")
	containsAny := func(s string, subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(s, x) {
				return true
			}
		}
		return false
	}
	set := func(s string, a tokenAttr, on bool) {
		if i, ok := find(s); ok {
			if on {
				attrs[i] |= a
			} else {
				attrs[i] &^= a
			}
		}
	}
	switch {
	case containsAny(pre, "jina-v2-de", "jina-v2-es", "jina-v2-code") || containsAny(arch, "nomic-bert-moe", "jina-bert-v3"):
		set("<mask>", attrLStrip, true)
	case containsAny(name, "phi-3", "phi3"):
		for i, a := range attrs {
			if a&matchedAttrs != 0 {
				attrs[i] |= attrRStrip
			}
		}
		set("</s>", attrRStrip, true)
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			set(s, attrRStrip, false)
		}
	case containsAny(name, "modern-bert"):
		set("[MASK]", attrLStrip, true)
	}
	return attrs, texts
}

// matchedAttrs: tokens with one of these are matched in the text before the
// model runs (llama.cpp's cache_special_tokens).
const matchedAttrs = attrControl | attrUserDefined | attrUnknown

// ggufAdded is the added-token list llama.cpp's tokenizer_st_partition
// works through: the matched tokens, longest text first (ties by id;
// llama.cpp's sort leaves their order open). Control and unknown tokens are
// matched only when parsing specials; user-defined ones always.
func ggufAdded(attrs []tokenAttr, texts []string) []addedToken {
	var added []addedToken
	for i, a := range attrs {
		if a&matchedAttrs == 0 {
			continue
		}
		added = append(added, addedToken{
			id:      int32(i),
			content: texts[i],
			special: a&(attrControl|attrUnknown) != 0,
			lstrip:  a&attrLStrip != 0,
			rstrip:  a&attrRStrip != 0,
		})
	}
	sort.SliceStable(added, func(x, y int) bool { return len(added[x].content) > len(added[y].content) })
	return added
}
