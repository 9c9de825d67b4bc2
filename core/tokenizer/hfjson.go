package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// HF tokenizer.json, the parts that encoding and decoding need.
type hfFile struct {
	AddedTokens   []hfAdded       `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         hfModel         `json:"model"`
}

type hfAdded struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

// component is any normalizer, pre-tokenizer, decoder or post-processor.
type component struct {
	Type string `json:"type"`
	// Sequence
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`
	// Prepend / Replace / Strip / Metaspace
	Prepend  string           `json:"prepend"`
	Pattern  *hfPattern       `json:"pattern"`
	Content  json.RawMessage  `json:"content"`
	StripL   *bool            `json:"strip_left"`
	StripR   *bool            `json:"strip_right"`
	Start    int              `json:"start"`
	Stop     int              `json:"stop"`
	Behavior string           `json:"behavior"`
	Invert   bool             `json:"invert"`
	Repl     string           `json:"replacement"`
	Scheme   string           `json:"prepend_scheme"`
	Split    *bool            `json:"split"`
	PrefixSp *bool            `json:"add_prefix_space"`
	UseRegex *bool            `json:"use_regex"`
	Individ  bool             `json:"individual_digits"`
	Single   []hfTemplatePart `json:"single"`
}

type hfPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type hfTemplatePart struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
}

// tokenizer_config.json, the parts about BOS/EOS.
type hfConfig struct {
	AddBOS *bool           `json:"add_bos_token"`
	BOS    json.RawMessage `json:"bos_token"`
	EOS    json.RawMessage `json:"eos_token"`
	Pad    json.RawMessage `json:"pad_token"`
}

func tokenText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Content
	}
	return ""
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// ParseTokenizerJSON builds a Tokenizer from the bytes of a Hugging Face
// tokenizer.json and, optionally (nil), its tokenizer_config.json.
func ParseTokenizerJSON(data, config []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.Model.Type != "" && f.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer.json: model type %q is not supported (BPE only)", f.Model.Type)
	}
	var vocab map[string]int
	if err := json.Unmarshal(f.Model.Vocab, &vocab); err != nil || vocab == nil {
		return nil, fmt.Errorf("tokenizer.json: model.vocab is not a map of token to id")
	}
	n := 0
	for tok, id := range vocab {
		if id < 0 || id >= 1<<24 {
			return nil, fmt.Errorf("tokenizer.json: token %q has id %d outside [0, 2^24)", tok, id)
		}
		n = max(n, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= 1<<24 {
			return nil, fmt.Errorf("tokenizer.json: added token %q has id %d outside [0, 2^24)", a.Content, a.ID)
		}
		n = max(n, a.ID+1)
	}
	if n > 2*(len(vocab)+len(f.AddedTokens))+256 {
		return nil, fmt.Errorf("tokenizer.json: ids reach %d for %d tokens", n-1, len(vocab)+len(f.AddedTokens))
	}
	t := newTokenizer(n)
	t.name = "tokenizer.json"
	t.kind = modelBPE
	for tok, id := range vocab {
		t.pieces[id] = tok
		t.ids[tok] = int32(id)
	}
	t.setByteIDs()
	m := f.Model
	t.byteFallback = m.ByteFallback
	t.fuseUnk = m.FuseUnk
	t.ignoreMerges = m.IgnoreMerges
	if m.ContinuingSubwordPrefix != nil {
		t.contPrefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		t.eowSuffix = *m.EndOfWordSuffix
	}
	if m.UnkToken != nil {
		if id, ok := t.ids[*m.UnkToken]; ok {
			t.unk = id
		}
	}
	if err := t.parseMerges(m.Merges); err != nil {
		return nil, err
	}

	// added tokens
	t.special = make([]bool, n)
	var raw, normd []addedToken
	for _, a := range f.AddedTokens {
		t.pieces[a.ID] = a.Content
		at := addedToken{id: int32(a.ID), content: a.Content, special: a.Special, lstrip: a.LStrip, rstrip: a.RStrip, singleWord: a.SingleWord, normalized: a.Normalized}
		if a.Special {
			t.special[a.ID] = true
		}
		if a.Normalized && !a.Special {
			normd = append(normd, at)
		} else {
			raw = append(raw, at)
		}
	}
	t.added = newMatcher(raw)
	t.addedNorm = newMatcher(normd)

	var err error
	if t.normalizers, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.decoders, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	// Normalized added tokens are matched on normalized text: normalize them.
	for i := range t.addedNorm.toks {
		c := t.addedNorm.toks[i].content
		for _, nz := range t.normalizers {
			c = nz.normalize(c)
		}
		t.addedNorm.toks[i].content = c
	}
	t.addedNorm = newMatcher(t.addedNorm.toks)
	if !usesByteLevel(t.pre) {
		t.setMetaSplit()
	}

	// BOS/EOS: tokenizer_config.json, else the post-processor's template.
	bosText, eosText, padText := "", "", ""
	if len(config) > 0 {
		var c hfConfig
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %w", err)
		}
		bosText, eosText, padText = tokenText(c.BOS), tokenText(c.EOS), tokenText(c.Pad)
		if c.AddBOS != nil {
			t.addBOS = *c.AddBOS
		}
	}
	if tmplBOS := templateBOS(f.PostProcessor); tmplBOS != "" {
		if bosText == "" {
			bosText = tmplBOS
		}
		if len(config) == 0 || !strings.Contains(string(config), "add_bos_token") {
			t.addBOS = true
		}
	}
	if id, ok := t.lookup(bosText); ok && bosText != "" {
		t.bos = id
	}
	if id, ok := t.lookup(eosText); ok && eosText != "" {
		t.eos = id
	}
	if id, ok := t.lookup(padText); ok && padText != "" {
		t.pad = id
	}
	t.srcJSON, t.srcConfig = data, config
	return t, nil
}

// lookup finds a token by text among added tokens and the vocabulary.
func (t *Tokenizer) lookup(s string) (int32, bool) {
	for _, m := range []*matcher{t.added, t.addedNorm} {
		if m == nil {
			continue
		}
		for _, a := range m.toks {
			if a.content == s {
				return a.id, true
			}
		}
	}
	id, ok := t.ids[s]
	return id, ok
}

func (t *Tokenizer) parseMerges(raw json.RawMessage) error {
	t.merges = map[uint64]merge{}
	if isNull(raw) {
		return nil
	}
	var pairs [][2]string
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		pairs = make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return fmt.Errorf("tokenizer.json: merge %d %q is not two tokens", i, s)
			}
			pairs[i] = [2]string{a, b}
		}
	} else if err := json.Unmarshal(raw, &pairs); err != nil {
		return fmt.Errorf("tokenizer.json: model.merges is neither strings nor pairs")
	}
	for rank, p := range pairs {
		if err := t.addMerge(p[0], p[1], rank); err != nil {
			return fmt.Errorf("tokenizer.json: %w", err)
		}
	}
	return nil
}

func (t *Tokenizer) addMerge(a, b string, rank int) error {
	ia, ok1 := t.ids[a]
	ib, ok2 := t.ids[b]
	prefix := t.contPrefix
	merged := a + strings.TrimPrefix(b, prefix)
	if prefix == "" {
		merged = a + b
	}
	im, ok3 := t.ids[merged]
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("merge %d (%q %q) uses a token that is not in the vocabulary", rank, a, b)
	}
	k := pairKey(ia, ib)
	if _, dup := t.merges[k]; !dup {
		t.merges[k] = merge{rank: int32(rank), id: im}
	}
	return nil
}

func templateBOS(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var c component
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	switch c.Type {
	case "TemplateProcessing":
		if len(c.Single) > 0 && c.Single[0].SpecialToken != nil {
			return c.Single[0].SpecialToken.ID
		}
	case "Sequence":
		for _, p := range c.Processors {
			if s := templateBOS(p); s != "" {
				return s
			}
		}
	}
	return ""
}

func parseComponent(raw json.RawMessage, what string) (*component, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %s: %w", what, err)
	}
	return &c, nil
}

func (c *component) finder(what string) (matchFinder, error) {
	if c.Pattern == nil {
		return nil, fmt.Errorf("tokenizer.json: %s %s has no pattern", c.Type, what)
	}
	if c.Pattern.String != nil {
		return literalFinder{*c.Pattern.String}, nil
	}
	if c.Pattern.Regex != nil {
		f, err := newFinder(*c.Pattern.Regex)
		if err != nil {
			return nil, fmt.Errorf("tokenizer.json: %s %s regex: %w", c.Type, what, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("tokenizer.json: %s %s pattern is neither String nor Regex", c.Type, what)
}

func parseNormalizer(raw json.RawMessage) ([]normalizer, error) {
	c, err := parseComponent(raw, "normalizer")
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var out []normalizer
		for _, r := range c.Normalizers {
			ns, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
		return out, nil
	case "NFC":
		return []normalizer{unicodeNorm{norm.NFC}}, nil
	case "NFD":
		return []normalizer{unicodeNorm{norm.NFD}}, nil
	case "NFKC":
		return []normalizer{unicodeNorm{norm.NFKC}}, nil
	case "NFKD":
		return []normalizer{unicodeNorm{norm.NFKD}}, nil
	case "Lowercase":
		return []normalizer{lowercase{}}, nil
	case "Prepend":
		return []normalizer{prepend{c.Prepend}}, nil
	case "Strip":
		return []normalizer{strip{left: c.StripL == nil || *c.StripL, right: c.StripR == nil || *c.StripR}}, nil
	case "Replace":
		var to string
		json.Unmarshal(c.Content, &to)
		if c.Pattern != nil && c.Pattern.String != nil {
			return []normalizer{replace{from: *c.Pattern.String, to: to}}, nil
		}
		if c.Pattern != nil && c.Pattern.Regex != nil {
			re, err := compileRegex(*c.Pattern.Regex)
			if err != nil {
				return nil, fmt.Errorf("tokenizer.json: Replace normalizer regex: %w", err)
			}
			return []normalizer{replace{re: re, to: to}}, nil
		}
		return nil, fmt.Errorf("tokenizer.json: Replace normalizer has no pattern")
	}
	return nil, fmt.Errorf("tokenizer.json: normalizer %q is not supported", c.Type)
}

func parseScheme(c *component) prependScheme {
	switch c.Scheme {
	case "first":
		return prependFirst
	case "never":
		return prependNever
	case "always":
		return prependAlways
	}
	if c.PrefixSp != nil && !*c.PrefixSp {
		return prependNever
	}
	return prependAlways
}

func firstRune(s, def string) string {
	if s == "" {
		return def
	}
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

func parsePreTokenizer(raw json.RawMessage) ([]preTokenizer, error) {
	c, err := parseComponent(raw, "pre_tokenizer")
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var out []preTokenizer
		for _, r := range c.PreTokenizers {
			ps, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	case "Split":
		f, err := c.finder("pre-tokenizer")
		if err != nil {
			return nil, err
		}
		var b splitBehavior
		switch c.Behavior {
		case "Isolated", "":
			b = splitIsolated
		case "Removed":
			b = splitRemoved
		case "MergedWithPrevious":
			b = splitMergedWithPrevious
		case "MergedWithNext":
			b = splitMergedWithNext
		case "Contiguous":
			b = splitContiguous
		default:
			return nil, fmt.Errorf("tokenizer.json: Split behavior %q is not supported", c.Behavior)
		}
		return []preTokenizer{splitPre{f: f, behavior: b, invert: c.Invert}}, nil
	case "ByteLevel":
		p := byteLevelPre{prefixSpace: c.PrefixSp != nil && *c.PrefixSp}
		if c.UseRegex == nil || *c.UseRegex {
			f, err := newFinder(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			p.f = f
		}
		return []preTokenizer{p}, nil
	case "Metaspace":
		return []preTokenizer{metaspacePre{repl: firstRune(c.Repl, "\u2581"), scheme: parseScheme(c), split_: c.Split == nil || *c.Split}}, nil
	case "Digits":
		return []preTokenizer{digitsPre{individual: c.Individ}}, nil
	case "WhitespaceSplit":
		return []preTokenizer{whitespaceSplitPre{}}, nil
	}
	return nil, fmt.Errorf("tokenizer.json: pre-tokenizer %q is not supported", c.Type)
}

func parseDecoder(raw json.RawMessage) ([]decoder, error) {
	c, err := parseComponent(raw, "decoder")
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var out []decoder
		for _, r := range c.Decoders {
			ds, err := parseDecoder(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		}
		return out, nil
	case "ByteLevel":
		return []decoder{byteLevelDec{}}, nil
	case "ByteFallback":
		return []decoder{byteFallbackDec{}}, nil
	case "Fuse":
		return []decoder{fuseDec{}}, nil
	case "Replace":
		var to string
		json.Unmarshal(c.Content, &to)
		if c.Pattern == nil || c.Pattern.String == nil {
			return nil, fmt.Errorf("tokenizer.json: Replace decoder needs a String pattern")
		}
		return []decoder{replaceDec{from: *c.Pattern.String, to: to}}, nil
	case "Strip":
		var content string
		json.Unmarshal(c.Content, &content)
		r, _ := utf8.DecodeRuneInString(content)
		return []decoder{stripDec{content: r, start: c.Start, stop: c.Stop}}, nil
	case "Metaspace":
		return []decoder{metaspaceDec{repl: firstRune(c.Repl, "\u2581"), scheme: parseScheme(c)}}, nil
	}
	return nil, fmt.Errorf("tokenizer.json: decoder %q is not supported", c.Type)
}

func usesByteLevel(ps []preTokenizer) bool {
	for _, p := range ps {
		if _, ok := p.(byteLevelPre); ok {
			return true
		}
	}
	return false
}
