package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is a token matched in the text before the model runs
// (Hugging Face's added_tokens; GGUF control and user-defined tokens).
type addedToken struct {
	id         int32
	content    string
	special    bool // matched only with ParseSpecial
	lstrip     bool // swallows whitespace on its left
	rstrip     bool // swallows whitespace on its right
	singleWord bool // must not touch word characters
	normalized bool // matched on the normalized text
}

// matcher finds added tokens: leftmost, then longest.
type matcher struct {
	toks    []addedToken
	byFirst map[byte][]int // first byte -> tokens, longest first
	llama   bool           // split as llama.cpp does (GGUF vocabularies): see splitLlama
}

func newMatcher(toks []addedToken) *matcher {
	m := &matcher{toks: toks, byFirst: map[byte][]int{}}
	for i, t := range toks {
		if t.content == "" {
			continue
		}
		m.byFirst[t.content[0]] = append(m.byFirst[t.content[0]], i)
	}
	for _, l := range m.byFirst {
		sort.SliceStable(l, func(a, b int) bool { return len(toks[l[a]].content) > len(toks[l[b]].content) })
	}
	return m
}

// segment is a part of the text: an added token (id >= 0) or text to encode.
type segment struct {
	text  string
	start int // byte offset in the text that was split
	id    int32
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// split cuts s into text and added-token segments.
func (m *matcher) split(s string, parseSpecial bool, out []segment) []segment {
	if m == nil || len(m.toks) == 0 {
		if s == "" {
			return out
		}
		return append(out, segment{text: s, start: 0, id: -1})
	}
	if m.llama {
		return m.splitLlama(s, parseSpecial, out)
	}
	textStart := 0
	i := 0
	for i < len(s) {
		cands := m.byFirst[s[i]]
		hit := -1
		for _, k := range cands {
			t := &m.toks[k]
			if t.special && !parseSpecial {
				continue
			}
			if !strings.HasPrefix(s[i:], t.content) {
				continue
			}
			if t.singleWord {
				if r, _ := utf8.DecodeLastRuneInString(s[:i]); i > 0 && isWordRune(r) {
					continue
				}
				if r, _ := utf8.DecodeRuneInString(s[i+len(t.content):]); i+len(t.content) < len(s) && isWordRune(r) {
					continue
				}
			}
			hit = k
			break
		}
		if hit < 0 {
			i++
			continue
		}
		t := &m.toks[hit]
		a, b := i, i+len(t.content)
		if t.lstrip {
			for a > textStart {
				r, n := utf8.DecodeLastRuneInString(s[textStart:a])
				if !unicode.IsSpace(r) {
					break
				}
				a -= n
			}
		}
		if t.rstrip {
			for b < len(s) {
				r, n := utf8.DecodeRuneInString(s[b:])
				if !unicode.IsSpace(r) {
					break
				}
				b += n
			}
		}
		if a > textStart {
			out = append(out, segment{text: s[textStart:a], start: textStart, id: -1})
		}
		out = append(out, segment{text: s[a:b], start: a, id: t.id})
		textStart, i = b, b
	}
	if textStart < len(s) {
		out = append(out, segment{text: s[textStart:], start: textStart, id: -1})
	}
	return out
}
