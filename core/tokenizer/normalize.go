package tokenizer

import (
	"strings"
	"unicode"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

type normalizer interface {
	normalize(s string) string
}

type unicodeNorm struct{ f norm.Form }

func (n unicodeNorm) normalize(s string) string { return n.f.String(s) }

type lowercase struct{}

func (lowercase) normalize(s string) string { return strings.ToLower(s) }

// prepend puts its text before any non-empty input.
type prepend struct{ s string }

func (p prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.s + s
}

type replace struct {
	from string          // a literal pattern, or
	re   *regexp2.Regexp // a regular expression
	to   string
}

func (r replace) normalize(s string) string {
	if r.re == nil {
		if r.from == "" {
			return s
		}
		return strings.ReplaceAll(s, r.from, r.to)
	}
	var b strings.Builder
	last := 0
	for _, m := range findAll(r.re, s) {
		b.WriteString(s[last:m[0]])
		b.WriteString(r.to)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

type strip struct{ left, right bool }

func (st strip) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}
