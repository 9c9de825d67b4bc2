package tokenizer

import (
	"slices"
	"strings"
)

// splitLlama cuts s the way llama.cpp's tokenizer_st_partition does for a
// GGUF vocabulary, which is not the leftmost-longest rule of Hugging Face's
// added tokens: each token in turn, longest text first, takes every
// occurrence of its text in the text no earlier token took, left to right.
// Stripping removes ASCII whitespace (C isspace) only.
func (m *matcher) splitLlama(s string, parseSpecial bool, out []segment) []segment {
	// Only tokens that occur somewhere in s can take part: find them in one
	// pass, so that text without added tokens costs one scan.
	var present []int
	var seen map[int]bool
	for i := 0; i < len(s); i++ {
		for _, k := range m.byFirst[s[i]] {
			t := &m.toks[k]
			if t.special && !parseSpecial || seen[k] || !strings.HasPrefix(s[i:], t.content) {
				continue
			}
			if seen == nil {
				seen = map[int]bool{}
			}
			seen[k] = true
			present = append(present, k)
		}
	}
	if len(present) == 0 {
		if s != "" {
			out = append(out, segment{text: s, start: 0, id: -1})
		}
		return out
	}
	// m.toks is in llama.cpp's order; keep it.
	slices.Sort(present)

	// frags holds text pieces (id -1, [start,end) of s) and taken tokens.
	type frag struct {
		start, end int
		id         int32
	}
	frags := []frag{{0, len(s), -1}}
	var next []frag
	for _, k := range present {
		t := &m.toks[k]
		next = next[:0]
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			a, b := f.start, f.end
			for a < b {
				j := strings.Index(s[a:b], t.content)
				if j < 0 {
					break
				}
				left := a + j
				if t.lstrip {
					for left > a && isCSpace(s[left-1]) {
						left--
					}
				}
				if left > a {
					next = append(next, frag{a, left, -1})
				}
				next = append(next, frag{a + j, a + j + len(t.content), t.id})
				a += j + len(t.content)
				if t.rstrip {
					for a < b && isCSpace(s[a]) {
						a++
					}
				}
			}
			if a < b {
				next = append(next, frag{a, b, -1})
			}
		}
		frags, next = next, frags
	}
	for _, f := range frags {
		out = append(out, segment{text: s[f.start:f.end], start: f.start, id: f.id})
	}
	return out
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
