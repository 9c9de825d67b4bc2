package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// piece is one pre-token. first marks the piece that begins the original
// text (offset 0), which Metaspace's prepend_scheme "first" looks at.
type piece struct {
	s     string
	first bool
}

type preTokenizer interface {
	split(in []piece) []piece
}

// splitBehavior is what a Split does with the matched delimiters.
type splitBehavior int

const (
	splitIsolated splitBehavior = iota
	splitRemoved
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

// matchFinder finds delimiters in a piece.
type matchFinder interface {
	find(s string) [][2]int
}

type literalFinder struct{ lit string }

func (f literalFinder) find(s string) [][2]int {
	if f.lit == "" {
		return nil
	}
	var out [][2]int
	for i := 0; ; {
		j := strings.Index(s[i:], f.lit)
		if j < 0 {
			return out
		}
		out = append(out, [2]int{i + j, i + j + len(f.lit)})
		i += j + len(f.lit)
	}
}

type regexFinder struct{ re *regexp2.Regexp }

func (f regexFinder) find(s string) [][2]int { return findAll(f.re, s) }

// splitPre is Hugging Face's Split pre-tokenizer.
type splitPre struct {
	f        matchFinder
	behavior splitBehavior
	invert   bool
}

func (p splitPre) split(in []piece) []piece {
	var out []piece
	for _, pc := range in {
		out = splitOne(out, pc, p.f.find(pc.s), p.behavior, p.invert)
	}
	return out
}

// splitOne cuts pc at the matches ms with the given behaviour, appending the
// non-empty parts to out.
func splitOne(out []piece, pc piece, ms [][2]int, behavior splitBehavior, invert bool) []piece {
	s := pc.s
	// spans: alternating (isMatch) ranges covering s
	type span struct {
		a, b  int
		match bool
	}
	var spans []span
	last := 0
	for _, m := range ms {
		if m[0] > last {
			spans = append(spans, span{last, m[0], invert})
		}
		if m[1] > m[0] {
			spans = append(spans, span{m[0], m[1], !invert})
		}
		last = m[1]
	}
	if last < len(s) {
		spans = append(spans, span{last, len(s), invert})
	}
	var parts [][2]int
	switch behavior {
	case splitIsolated:
		for _, sp := range spans {
			parts = append(parts, [2]int{sp.a, sp.b})
		}
	case splitRemoved:
		for _, sp := range spans {
			if !sp.match {
				parts = append(parts, [2]int{sp.a, sp.b})
			}
		}
	case splitMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && len(parts) > 0 && !prevMatch {
				parts[len(parts)-1][1] = sp.b
			} else {
				parts = append(parts, [2]int{sp.a, sp.b})
			}
			prevMatch = sp.match
		}
	case splitMergedWithNext:
		prevMatch := false
		for _, sp := range spans {
			if !sp.match && len(parts) > 0 && prevMatch {
				parts[len(parts)-1][1] = sp.b
			} else {
				parts = append(parts, [2]int{sp.a, sp.b})
			}
			prevMatch = sp.match
		}
	case splitContiguous:
		prevMatch := false
		for i, sp := range spans {
			if sp.match && prevMatch && i > 0 {
				parts[len(parts)-1][1] = sp.b
			} else {
				parts = append(parts, [2]int{sp.a, sp.b})
			}
			prevMatch = sp.match
		}
	}
	for _, r := range parts {
		if r[1] > r[0] {
			out = append(out, piece{s: s[r[0]:r[1]], first: pc.first && r[0] == 0})
		}
	}
	return out
}

// gpt2Pattern is the GPT-2 pre-tokenizer regex that ByteLevel's use_regex
// applies.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// byteLevelPre is Hugging Face's ByteLevel pre-tokenizer: optionally a space
// before each piece and the GPT-2 split, then the bytes mapped into the
// byte-level alphabet.
type byteLevelPre struct {
	prefixSpace bool
	f           matchFinder // nil: no regex split
}

func (p byteLevelPre) split(in []piece) []piece {
	var out []piece
	for _, pc := range in {
		if p.prefixSpace && !strings.HasPrefix(pc.s, " ") {
			pc.s = " " + pc.s
		}
		if p.f != nil {
			out = splitOne(out, pc, p.f.find(pc.s), splitIsolated, false)
		} else {
			out = append(out, pc)
		}
	}
	var buf []byte
	for i := range out {
		buf = byteLevelEncode(buf[:0], out[i].s)
		out[i].s = string(buf)
	}
	return out
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

// metaspacePre is Hugging Face's Metaspace pre-tokenizer.
type metaspacePre struct {
	repl   string
	scheme prependScheme
	split_ bool
}

func (p metaspacePre) split(in []piece) []piece {
	var out []piece
	for _, pc := range in {
		s := strings.ReplaceAll(pc.s, " ", p.repl)
		if !strings.HasPrefix(s, p.repl) && (p.scheme == prependAlways || (p.scheme == prependFirst && pc.first)) {
			s = p.repl + s
		}
		pc.s = s
		if p.split_ {
			out = splitOne(out, pc, literalFinder{p.repl}.find(s), splitMergedWithNext, false)
		} else {
			out = append(out, pc)
		}
	}
	return out
}

// digitsPre splits out digits (each alone, or runs of them).
type digitsPre struct{ individual bool }

func (p digitsPre) split(in []piece) []piece {
	var out []piece
	for _, pc := range in {
		var ms [][2]int
		for i := 0; i < len(pc.s); {
			r, n := utf8.DecodeRuneInString(pc.s[i:])
			if unicode.IsDigit(r) {
				if !p.individual && len(ms) > 0 && ms[len(ms)-1][1] == i {
					ms[len(ms)-1][1] = i + n
				} else {
					ms = append(ms, [2]int{i, i + n})
				}
			}
			i += n
		}
		out = splitOne(out, pc, ms, splitIsolated, false)
	}
	return out
}

// whitespaceSplitPre splits on whitespace, dropping it.
type whitespaceSplitPre struct{}

func (whitespaceSplitPre) split(in []piece) []piece {
	var out []piece
	for _, pc := range in {
		var ms [][2]int
		for i := 0; i < len(pc.s); {
			r, n := utf8.DecodeRuneInString(pc.s[i:])
			if unicode.IsSpace(r) {
				ms = append(ms, [2]int{i, i + n})
			}
			i += n
		}
		out = splitOne(out, pc, ms, splitRemoved, false)
	}
	return out
}

// regexSeq splits with each regex in turn, keeping matches and gaps as
// pieces (llama.cpp's list of pre-tokenizer regexes).
func regexSeq(patterns ...string) ([]preTokenizer, error) {
	var ps []preTokenizer
	for _, p := range patterns {
		f, err := newFinder(p)
		if err != nil {
			return nil, err
		}
		ps = append(ps, splitPre{f: f, behavior: splitIsolated})
	}
	return ps, nil
}

func newFinder(pattern string) (matchFinder, error) {
	if f := fastFinder(pattern); f != nil {
		return f, nil
	}
	re, err := compileRegex(pattern)
	if err != nil {
		return nil, err
	}
	return regexFinder{re}, nil
}

// fastFinder returns a hand-written matcher for a known pattern, or nil.
// Set by fastsplit.go.
var fastFinder = func(pattern string) matchFinder { return nil }
