package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Hand-written matchers for the pre-tokenizer regexes that nearly every
// byte-level vocabulary uses (GPT-2; Llama-3; Qwen2), giving the same
// matches as the regular expressions (checked against regexp2 by
// TestFastSplitters and FuzzFastSplitters) several times faster.

// The Hugging Face spellings of the Llama-3 and Qwen2 patterns.
const (
	hfLlama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	hfQwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

type fastSplit struct {
	gpt2      bool // GPT-2 shape; else the Llama-3 / Qwen2 shape
	ci        bool // contractions match case-insensitively
	maxDigits int  // \p{N}{1,maxDigits}; 0: unbounded (GPT-2's \p{N}+)
	tail      bool // the final \s+ alternative is present
}

func init() {
	fastFinder = func(p string) matchFinder {
		switch p {
		case gpt2Pattern:
			return fastSplit{gpt2: true, tail: true}
		case reGPT2:
			return fastSplit{gpt2: true}
		case hfLlama3Pattern, reLlama3:
			return fastSplit{ci: true, maxDigits: 3, tail: true}
		case hfQwen2Pattern, reQwen2:
			return fastSplit{ci: true, maxDigits: 1, tail: true}
		}
		return nil
	}
}

func isL(r rune) bool {
	if r < 0x80 {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r)
}

func isN(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isS(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.IsSpace(r)
}

// isP is the class [^\s\p{L}\p{N}].
func isP(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

func at(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// contraction is the length of 's 't 're 've 'm 'll 'd after the apostrophe.
func contraction(s string, i int, ci bool) int {
	lower := func(k int) byte {
		if i+k >= len(s) {
			return 0
		}
		c := s[i+k]
		if ci && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch lower(0) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if lower(1) == 'e' {
			return 2
		}
	case 'l':
		if lower(1) == 'l' {
			return 2
		}
	}
	return 0
}

func (f fastSplit) find(s string) [][2]int {
	out := make([][2]int, 0, len(s)/4+1)
	for i := 0; i < len(s); {
		n := f.match(s, i)
		if n == 0 {
			_, w := at(s, i)
			i += w
			continue
		}
		out = append(out, [2]int{i, i + n})
		i += n
	}
	return out
}

func skip(s string, j int, class func(rune) bool) int {
	for j < len(s) {
		r, w := at(s, j)
		if !class(r) {
			break
		}
		j += w
	}
	return j
}

// match is the length of the regex's match starting exactly at i, 0 if none.
func (f fastSplit) match(s string, i int) int {
	r, n := at(s, i)
	if r == '\'' {
		if k := contraction(s, i+1, f.ci); k > 0 {
			return 1 + k
		}
	}
	r2, n2 := at(s, i+n)
	if f.gpt2 {
		// ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+'
		start := i
		if r == ' ' && r2 >= 0 && !isS(r2) {
			start, r = i+1, r2
		}
		switch {
		case isL(r):
			return skip(s, start, isL) - i
		case isN(r):
			return skip(s, start, isN) - i
		case !isS(r):
			return skip(s, start, isP) - i
		}
	} else {
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if isL(r) {
			return skip(s, i+n, isL) - i
		}
		if r != '\r' && r != '\n' && !isN(r) && r2 >= 0 && isL(r2) {
			return skip(s, i+n+n2, isL) - i
		}
		// \p{N}{1,k}
		if isN(r) {
			j := i + n
			for c := 1; c < f.maxDigits; c++ {
				rr, w := at(s, j)
				if rr < 0 || !isN(rr) {
					break
				}
				j += w
			}
			return j - i
		}
		// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
		start := -1
		if r == ' ' && r2 >= 0 && isP(r2) {
			start = i + 1
		} else if isP(r) {
			start = i
		}
		if start >= 0 {
			j := skip(s, start, isP)
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			return j - i
		}
		// \s*[\r\n]+ : up to the last line break of the whitespace run
		end, lastNL := i, -1
		for end < len(s) {
			rr, w := at(s, end)
			if !isS(rr) {
				break
			}
			if rr == '\r' || rr == '\n' {
				lastNL = end
			}
			end += w
		}
		if lastNL >= 0 {
			return lastNL + 1 - i
		}
	}
	// \s+(?!\S) | \s+
	end, last := i, i
	for end < len(s) {
		rr, w := at(s, end)
		if !isS(rr) {
			break
		}
		last = end
		end += w
	}
	if end == i {
		return 0
	}
	if end == len(s) {
		return end - i
	}
	if last > i {
		return last - i
	}
	if f.tail {
		return end - i
	}
	return 0
}
