package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Vocabulary restriction: an expert that reads only some languages needs
// only part of the vocabulary. KeepSet chooses the tokens, Restrict builds the
// smaller tokenizer with new contiguous ids and rewrites its files.
//
// The guarantee: on any text whose tokenization by the original tokenizer
// uses only kept tokens, the restricted tokenizer gives the same tokens
// (mapped to the new ids), and it decodes them to the same text. Any other
// valid UTF-8 still encodes, through byte tokens (byte-level BPE) or byte
// fallback, never to an unknown token where the original had none.
//
// Why: the kept set is closed under merges (both parts of every merge that
// makes a kept token are kept), so every merge the original applied on such
// text is still there, and the merges left are a subset of the original's,
// among which the original's choice at each step is still the first. Every
// byte token, special and added token is kept.

// IDMap maps the ids of a vocabulary to those of its restriction.
type IDMap struct {
	// Keep lists the kept ids of the original vocabulary, ascending: new id
	// i is old id Keep[i].
	Keep []int `json:"keep"`
	// New maps an old id to its new id, -1 when removed.
	New []int32 `json:"-"`
}

// NewIDMap makes the map for kept ids (ascending, distinct) of a
// vocabulary of n ids.
func NewIDMap(keep []int, n int) *IDMap {
	m := &IDMap{Keep: keep, New: make([]int32, n)}
	for i := range m.New {
		m.New[i] = -1
	}
	for i, id := range keep {
		m.New[id] = int32(i)
	}
	return m
}

// Map is the new id of an old one, -1 when removed or out of range.
func (m *IDMap) Map(old int) int {
	if old < 0 || old >= len(m.New) {
		return -1
	}
	return int(m.New[old])
}

// MapAll maps old ids to new ones; ok is false when one was removed.
func (m *IDMap) MapAll(old []int) (out []int, ok bool) {
	out = make([]int, len(old))
	ok = true
	for i, id := range old {
		out[i] = m.Map(id)
		ok = ok && out[i] >= 0
	}
	return out, ok
}

// KeepSet chooses the tokens an expert that reads texts needs: every token
// the tokenizer produces on texts, every token made only of characters that
// occur in texts (so other text in the same characters tokenizes as
// before), and the closure of Restrict (byte tokens, special and added
// tokens, the parts of every merge that makes a kept token). It returns the
// kept ids, ascending, and how many of them texts produced.
func (t *Tokenizer) KeepSet(texts []string) (keep []int, produced int) {
	n := len(t.pieces)
	k := make([]bool, n)
	chars := map[rune]bool{}
	var buf []int32
	for _, s := range texts {
		buf = t.encode32(s, EncodeOptions{}, buf[:0])
		for _, id := range buf {
			if !k[id] {
				k[id] = true
				produced++
			}
		}
		addRunes(chars, s)
		ns := s
		for _, nz := range t.normalizers {
			ns = nz.normalize(ns)
		}
		addRunes(chars, ns)
	}
	if chars[' '] {
		chars['\u2581'] = true
	}
	// every substring of the UTF-8 form of a character, for byte-level
	// tokens that hold part of one
	part := map[string]bool{}
	for r := range chars {
		e := string(r)
		for i := 0; i < len(e); i++ {
			for j := i + 1; j <= len(e); j++ {
				part[e[i:j]] = true
			}
		}
	}
	bl := t.byteLevel()
	var tb []byte
	for id, p := range t.pieces {
		if k[id] || p == "" {
			continue
		}
		b := []byte(p)
		if bl {
			tb = byteLevelDecode(tb[:0], p)
			b = tb
		}
		if madeOf(b, chars, part) {
			k[id] = true
		}
	}
	t.close(k)
	for id, ok := range k {
		if ok {
			keep = append(keep, id)
		}
	}
	return keep, produced
}

func addRunes(set map[rune]bool, s string) {
	for _, r := range s {
		set[r] = true
	}
}

// madeOf reports whether b is a piece of text in the given characters:
// whole characters of the set, and at either end part of one.
func madeOf(b []byte, chars map[rune]bool, part map[string]bool) bool {
	if len(b) == 0 {
		return false
	}
	i := 0
	for i < len(b) && i < 3 && b[i]&0xC0 == 0x80 {
		i++
	}
	if i > 0 && !part[string(b[:i])] {
		return false
	}
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			if !utf8.FullRune(b[i:]) {
				return part[string(b[i:])]
			}
			return false
		}
		if !chars[r] {
			return false
		}
		i += n
	}
	return true
}

// byteLevel reports whether tokens are in the byte-level alphabet.
func (t *Tokenizer) byteLevel() bool {
	if t.gguf != nil {
		return t.gguf.model == "gpt2"
	}
	return usesByteLevel(t.pre)
}

// close adds to keep what a restricted vocabulary needs to stay exact and
// complete: byte tokens (byte-level alphabet or byte fallback) and U+2581 in
// a SentencePiece vocabulary, the unknown,
// BOS, EOS and padding tokens, every added and special token, and
// recursively the parts of every merge that makes a kept token (for a
// SentencePiece vocabulary ranked by score, every split of a kept piece
// into two pieces).
func (t *Tokenizer) close(keep []bool) {
	n := len(t.pieces)
	for _, id := range t.byteIDs {
		if id >= 0 {
			keep[id] = true
		}
	}
	if id, ok := t.ids["\u2581"]; ok && !t.byteLevel() {
		// SentencePiece decoders turn U+2581 into a space before they
		// read byte tokens: the space must stay a token of its own.
		keep[id] = true
	}
	if t.byteLevel() {
		for b := 0; b < 256; b++ {
			if id, ok := t.ids[byteToStr[b]]; ok {
				keep[id] = true
			}
		}
	}
	for _, id := range []int32{t.unk, t.bos, t.eos, t.pad} {
		if id >= 0 && int(id) < n {
			keep[id] = true
		}
	}
	for _, m := range []*matcher{t.added, t.addedNorm} {
		if m == nil {
			continue
		}
		for _, a := range m.toks {
			keep[a.id] = true
		}
	}
	for id := range t.special {
		if t.special[id] {
			keep[id] = true
		}
	}
	var work []int32
	for id, ok := range keep {
		if ok {
			work = append(work, int32(id))
		}
	}
	add := func(id int32) {
		if !keep[id] {
			keep[id] = true
			work = append(work, id)
		}
	}
	if t.kind == modelSPM {
		for len(work) > 0 {
			id := work[len(work)-1]
			work = work[:len(work)-1]
			p := t.pieces[id]
			for i := range p {
				if i == 0 {
					continue
				}
				a, ok1 := t.ids[p[:i]]
				b, ok2 := t.ids[p[i:]]
				if ok1 && ok2 {
					add(a)
					add(b)
				}
			}
		}
		return
	}
	parts := make(map[int32][]uint64, len(t.merges))
	for k, m := range t.merges {
		parts[m.id] = append(parts[m.id], k)
	}
	for len(work) > 0 {
		id := work[len(work)-1]
		work = work[:len(work)-1]
		for _, k := range parts[id] {
			add(int32(k >> 32))
			add(int32(uint32(k)))
		}
	}
}

// Restricted is a tokenizer restricted to part of its vocabulary.
type Restricted struct {
	// Tokenizer is the restricted tokenizer (new ids).
	Tokenizer *Tokenizer
	// Map maps the original ids to the new ones.
	Map *IDMap
	// Files are the rewritten tokenizer.json and tokenizer_config.json of a
	// tokenizer.json source (nil for a GGUF vocabulary: write the
	// restricted tokenizer's keys with its WriteGGUF; RewriteFile makes the
	// files of an HF export with its WriteHF).
	Files map[string][]byte
}

// Restrict builds the tokenizer of a subset of the vocabulary: the ids in
// keep, plus what close adds (so the result is exact and complete whatever
// keep is), renumbered contiguously in their original order. Merges that
// make or use a removed token are dropped; tokenizer.json, its
// tokenizer_config.json and GGUF keys are rewritten with the new ids.
func (t *Tokenizer) Restrict(keep []int) (*Restricted, error) {
	n := len(t.pieces)
	k := make([]bool, n)
	for _, id := range keep {
		if id < 0 || id >= n {
			return nil, fmt.Errorf("restrict: id %d is outside the vocabulary (%d)", id, n)
		}
		k[id] = true
	}
	t.close(k)
	var ids []int
	for id, ok := range k {
		if ok {
			ids = append(ids, id)
		}
	}
	m := NewIDMap(ids, n)
	r := &Restricted{Map: m}
	if t.gguf != nil {
		v, err := t.ggufVocab(0)
		if err != nil {
			return nil, err
		}
		nv := v.restrict(m, t)
		nt, err := FromGGUF(nv.meta(t.gguf.name))
		if err != nil {
			return nil, fmt.Errorf("restrict: %w", err)
		}
		nt.name = t.name
		nt.gguf.chatTemplate, nt.gguf.addEOS = t.gguf.chatTemplate, t.gguf.addEOS
		r.Tokenizer = nt
		return r, nil
	}
	if t.srcJSON == nil {
		return nil, fmt.Errorf("restrict: the tokenizer has no source to rewrite")
	}
	tj, err := restrictTokenizerJSON(t.srcJSON, m, t.contPrefix)
	if err != nil {
		return nil, err
	}
	r.Files = map[string][]byte{"tokenizer.json": tj}
	var cfg []byte
	if t.srcConfig != nil {
		if cfg, err = restrictTokenizerConfig(t.srcConfig, m); err != nil {
			return nil, err
		}
		r.Files["tokenizer_config.json"] = cfg
	}
	nt, err := ParseTokenizerJSON(tj, cfg)
	if err != nil {
		return nil, fmt.Errorf("restrict: the rewritten tokenizer.json: %w", err)
	}
	nt.name = t.name
	r.Tokenizer = nt
	return r, nil
}

// restrict keeps the mapped tokens of a GGUF vocabulary.
func (v *ggufVocab) restrict(m *IDMap, t *Tokenizer) *ggufVocab {
	o := &ggufVocab{model: v.model, pre: v.pre, addBOS: v.addBOS, spacePrefix: v.spacePrefix}
	id := func(x int32) int32 {
		if x < 0 {
			return -1
		}
		return int32(m.Map(int(x)))
	}
	o.bos, o.eos, o.unk, o.pad = id(v.bos), id(v.eos), id(v.unk), id(v.pad)
	for _, old := range m.Keep {
		o.tokens = append(o.tokens, v.tokens[old])
		o.types = append(o.types, v.types[old])
		if v.scores != nil {
			o.scores = append(o.scores, v.scores[old])
		}
	}
	for _, s := range v.merges {
		a, b, _ := strings.Cut(s, " ")
		ia, ok1 := t.ids[a]
		ib, ok2 := t.ids[b]
		im, ok3 := t.ids[a+b]
		if ok1 && ok2 && ok3 && m.New[ia] >= 0 && m.New[ib] >= 0 && m.New[im] >= 0 {
			o.merges = append(o.merges, s)
		}
	}
	return o
}

// sortedKeys is a helper for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
