package tokenizer

import (
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// compileRegex compiles a Split or Replace pattern (Oniguruma syntax as
// Hugging Face uses it; regexp2's .NET syntax covers what tokenizers use:
// \p{L}, \p{N}, (?i:...), lookahead).
func compileRegex(p string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(p, regexp2.None)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = time.Duration(1<<63 - 1)
	return re, nil
}

// findAll returns the byte ranges of the non-overlapping matches of re in s.
func findAll(re *regexp2.Regexp, s string) [][2]int {
	if s == "" {
		return nil
	}
	runes := []rune(s)
	// rune index -> byte offset
	offs := make([]int, len(runes)+1)
	o := 0
	for i, r := range runes {
		offs[i] = o
		if r == utf8.RuneError {
			// invalid bytes decode to U+FFFD; find the real width
			_, n := utf8.DecodeRuneInString(s[o:])
			o += n
		} else {
			o += utf8.RuneLen(r)
		}
	}
	offs[len(runes)] = o
	var out [][2]int
	m, err := re.FindRunesMatch(runes)
	for err == nil && m != nil {
		a := m.Index
		b := a + m.Length
		out = append(out, [2]int{offs[a], offs[b]})
		m, err = re.FindNextMatch(m)
	}
	return out
}
