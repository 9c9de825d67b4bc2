package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// WriteHF serialises a tokenizer built from a GGUF vocabulary (FromGGUF) as
// a Hugging Face tokenizer.json and tokenizer_config.json, so that a model
// exported from a GGUF file to a Hugging Face folder keeps its tokenizer:
// ParseTokenizerJSON and Hugging Face's tokenizers then give the ids the
// GGUF vocabulary gives.
//
// "llama" (SentencePiece-style) vocabularies become BPE with byte fallback
// and Llama-2's normalizer (Prepend U+2581 when the GGUF adds a space
// prefix, Replace " " by U+2581; a normalizer rather than Metaspace's
// "first" scheme because llama.cpp, like the Prepend normalizer, puts the
// space after every added token too). Their merges come from the scores:
// every split of a piece into two pieces, ranked by the piece's score,
// which is the order llama.cpp merges in. "gpt2" vocabularies become
// byte-level BPE with the merges as stored and the pre-tokenizer regexes
// llama.cpp uses for tokenizer.ggml.pre. Added tokens are the tokens
// llama.cpp matches in the text before the model runs (control, unknown and
// user-defined, after its overrides by text: see ggufAttrs), special for
// control and unknown ones, with llama.cpp's lstrip/rstrip. A BOS the GGUF
// asks for (add_bos_token) is added by the post-processor.
//
// Known differences that the tokenizer.json format cannot express:
// llama.cpp matches added tokens longest first over the whole text where
// Hugging Face takes the leftmost match, its lstrip/rstrip strip ASCII
// whitespace only (Hugging Face: any Unicode whitespace), and it breaks ties
// between pieces of equal score by position where ranked merges cannot.
func (t *Tokenizer) WriteHF() (tokenizerJSON, tokenizerConfig []byte, err error) {
	if t.gguf == nil {
		return nil, nil, fmt.Errorf("WriteHF: the tokenizer is not from a GGUF vocabulary (its tokenizer.json is the source)")
	}
	f := hfOut{Version: "1.0", AddedTokens: t.hfAdded(), Decoder: t.hfDecoder()}
	switch t.gguf.model {
	case "llama":
		f.Normalizer = t.hfSPMNormalizer()
		f.Model.ByteFallback = true
		f.Model.FuseUnk = true
		f.Model.Merges = t.spmMerges()
	case "gpt2":
		pre, err := hfPreTokenizer(t.gguf.pre)
		if err != nil {
			return nil, nil, err
		}
		f.PreTokenizer = pre
		f.Model.IgnoreMerges = t.ignoreMerges
		f.Model.Merges = t.gpt2Merges()
	default:
		return nil, nil, fmt.Errorf("WriteHF: GGUF tokenizer model %q is not supported", t.gguf.model)
	}
	f.Model.Type = "BPE"
	if t.unk >= 0 {
		u := t.pieces[t.unk]
		f.Model.UnkToken = &u
	}
	f.Model.Vocab = t.hfVocab()
	f.PostProcessor = t.hfPostProcessor()
	if tokenizerJSON, err = marshalHF(f); err != nil {
		return nil, nil, err
	}
	if tokenizerConfig, err = marshalHF(t.hfConfigOut(f.AddedTokens)); err != nil {
		return nil, nil, err
	}
	return tokenizerJSON, tokenizerConfig, nil
}

// hfOut is a tokenizer.json in the field order Hugging Face writes.
type hfOut struct {
	Version       string     `json:"version"`
	Truncation    any        `json:"truncation"`
	Padding       any        `json:"padding"`
	AddedTokens   []hfAdded  `json:"added_tokens"`
	Normalizer    any        `json:"normalizer"`
	PreTokenizer  any        `json:"pre_tokenizer"`
	PostProcessor any        `json:"post_processor"`
	Decoder       any        `json:"decoder"`
	Model         hfModelOut `json:"model"`
}

type hfModelOut struct {
	Type                    string          `json:"type"`
	Dropout                 any             `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix any             `json:"continuing_subword_prefix"`
	EndOfWordSuffix         any             `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  [][2]string     `json:"merges"`
}

// obj is a JSON object with its keys in a set order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalHF(e.k)
		if err != nil {
			return nil, err
		}
		v, err := marshalHF(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalHF is json.Marshal without HTML escaping ("<s>" stays readable).
func marshalHF(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// hfVocab is model.vocab in id order. A text the GGUF lists twice keeps its
// first id, as FromGGUF does: the later ids have no entry.
func (t *Tokenizer) hfVocab() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for i, p := range t.pieces {
		if id, ok := t.ids[p]; !ok || int(id) != i {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := marshalHF(p)
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// hfAdded lists the tokens llama.cpp matches before the model runs, by id.
func (t *Tokenizer) hfAdded() []hfAdded {
	out := []hfAdded{}
	for _, a := range t.added.toks {
		p := t.pieces[a.id]
		if p == "" || p != a.content {
			continue // llama.cpp's "[EMPTY_i]" stand-in has no vocabulary entry
		}
		out = append(out, hfAdded{ID: int(a.id), Content: p, LStrip: a.lstrip, RStrip: a.rstrip, Special: a.special})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (t *Tokenizer) hfSPMNormalizer() any {
	rep := obj{{"type", "Replace"}, {"pattern", obj{{"String", " "}}}, {"content", "\u2581"}}
	if !t.spmSpacePrefix {
		return rep
	}
	return obj{{"type", "Sequence"}, {"normalizers", []any{obj{{"type", "Prepend"}, {"prepend", "\u2581"}}, rep}}}
}

func (t *Tokenizer) hfDecoder() any {
	if t.gguf.model == "gpt2" {
		return obj{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}
	}
	ds := []any{
		obj{{"type", "Replace"}, {"pattern", obj{{"String", "\u2581"}}}, {"content", " "}},
		obj{{"type", "ByteFallback"}},
		obj{{"type", "Fuse"}},
	}
	if t.spmSpacePrefix {
		ds = append(ds, obj{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}})
	}
	return obj{{"type", "Sequence"}, {"decoders", ds}}
}

// hfPreTokenizer is llama.cpp's regex split for a tokenizer.ggml.pre name
// followed by the byte-level mapping, with Hugging Face's own spelling of
// the GPT-2, Llama-3 and Qwen2 patterns (the same matches: fastsplit.go).
func hfPreTokenizer(pre string) (any, error) {
	res, _, err := ggufPre(pre)
	if err != nil {
		return nil, err
	}
	byteLevel := func(useRegex bool) obj {
		return obj{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", useRegex}}
	}
	if len(res) == 1 && res[0] == reGPT2 {
		return byteLevel(true), nil
	}
	var seq []any
	for _, re := range res {
		switch re {
		case reLlama3:
			re = hfLlama3Pattern
		case reQwen2:
			re = hfQwen2Pattern
		}
		seq = append(seq, obj{{"type", "Split"}, {"pattern", obj{{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}})
	}
	seq = append(seq, byteLevel(false))
	return obj{{"type", "Sequence"}, {"pretokenizers", seq}}, nil
}

// hfPostProcessor adds the BOS (and EOS) the GGUF asks for.
func (t *Tokenizer) hfPostProcessor() any {
	var pre, post []int32
	if t.AddsBOS() {
		pre = append(pre, t.bos)
	}
	if t.gguf.addEOS && t.eos >= 0 {
		post = append(post, t.eos)
	}
	if len(pre)+len(post) == 0 {
		return nil
	}
	special := obj{}
	seen := map[int32]bool{}
	part := func(ids []int32, typeID int) []any {
		var out []any
		for _, id := range ids {
			out = append(out, obj{{"SpecialToken", obj{{"id", t.pieces[id]}, {"type_id", typeID}}}})
			if !seen[id] {
				seen[id] = true
				special = append(special, kv{t.pieces[id], obj{{"id", t.pieces[id]}, {"ids", []int32{id}}, {"tokens", []string{t.pieces[id]}}}})
			}
		}
		return out
	}
	seq := func(id string, typeID int) any {
		return obj{{"Sequence", obj{{"id", id}, {"type_id", typeID}}}}
	}
	single := append(append(part(pre, 0), seq("A", 0)), part(post, 0)...)
	pair := append(append(append(append(part(pre, 0), seq("A", 0)), part(post, 0)...), part(pre, 1)...), seq("B", 1))
	pair = append(pair, part(post, 1)...)
	return obj{{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", special}}
}

// spmMerges turns SentencePiece scores into ranked merges: llama.cpp merges
// the adjacent pair whose concatenation is the piece of highest score, so
// every split of a piece into two pieces is a merge, ranked by the piece's
// score (higher first; equal scores by piece id, then by the left piece's
// length).
func (t *Tokenizer) spmMerges() [][2]string {
	type mg struct {
		score float32
		id    int32
		left  int
		a, b  string
	}
	var ms []mg
	for i, p := range t.pieces {
		if id, ok := t.ids[p]; !ok || int(id) != i || utf8.RuneCountInString(p) < 2 {
			continue
		}
		for k := range p {
			if k == 0 {
				continue
			}
			a, b := p[:k], p[k:]
			if _, ok := t.ids[a]; !ok {
				continue
			}
			if _, ok := t.ids[b]; !ok {
				continue
			}
			ms = append(ms, mg{score: t.scores[i], id: int32(i), left: k, a: a, b: b})
		}
	}
	sort.Slice(ms, func(i, j int) bool {
		x, y := &ms[i], &ms[j]
		if x.score != y.score {
			return x.score > y.score
		}
		if x.id != y.id {
			return x.id < y.id
		}
		return x.left < y.left
	})
	out := make([][2]string, len(ms))
	for i, m := range ms {
		out[i] = [2]string{m.a, m.b}
	}
	return out
}

// gpt2Merges are the GGUF merges that FromGGUF uses, in rank order: those
// whose tokens are all in the vocabulary, first occurrence of a pair.
func (t *Tokenizer) gpt2Merges() [][2]string {
	type mg struct {
		rank int32
		a, b string
	}
	ms := make([]mg, 0, len(t.merges))
	for k, m := range t.merges {
		ms = append(ms, mg{m.rank, t.pieces[int32(k>>32)], t.pieces[int32(uint32(k))]})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].rank < ms[j].rank })
	out := make([][2]string, len(ms))
	for i, m := range ms {
		out[i] = [2]string{m.a, m.b}
	}
	return out
}

// hfConfigOut is the tokenizer_config.json: the special tokens by text, the
// BOS/EOS policy and the GGUF's chat template.
func (t *Tokenizer) hfConfigOut(added []hfAdded) obj {
	tok := func(id int32) any {
		if id < 0 {
			return nil
		}
		return t.pieces[id]
	}
	dec := obj{}
	for _, a := range added {
		dec = append(dec, kv{strconv.Itoa(a.ID), obj{{"content", a.Content}, {"lstrip", a.LStrip}, {"normalized", false},
			{"rstrip", a.RStrip}, {"single_word", false}, {"special", a.Special}}})
	}
	c := obj{
		{"add_bos_token", t.AddsBOS()},
		{"add_eos_token", t.gguf.addEOS && t.eos >= 0},
		{"added_tokens_decoder", dec},
		{"bos_token", tok(t.bos)},
		{"eos_token", tok(t.eos)},
		{"unk_token", tok(t.unk)},
		{"pad_token", tok(t.pad)},
	}
	if t.gguf.chatTemplate != "" {
		c = append(c, kv{"chat_template", t.gguf.chatTemplate})
	}
	c = append(c, kv{"clean_up_tokenization_spaces", false}, kv{"tokenizer_class", "PreTrainedTokenizerFast"})
	return c
}

// IsGGUF reports whether the vocabulary came from a GGUF file (so WriteHF
// can write it as tokenizer.json).
func (t *Tokenizer) IsGGUF() bool { return t.gguf != nil }
