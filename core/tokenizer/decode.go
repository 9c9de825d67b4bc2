package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// decoder is one step of Hugging Face's decoder chain: tokens in, tokens out.
type decoder interface {
	decode(toks []string) []string
}

type byteLevelDec struct{}

func (byteLevelDec) decode(toks []string) []string {
	var b []byte
	for _, t := range toks {
		b = byteLevelDecode(b, t)
	}
	return []string{lossyUTF8(b)}
}

type replaceDec struct{ from, to string }

func (d replaceDec) decode(toks []string) []string {
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(t, d.from, d.to)
	}
	return toks
}

// byteFallbackDec turns runs of "<0xXX>" tokens into their bytes: the text
// when they form valid UTF-8, else one U+FFFD per byte.
type byteFallbackDec struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

func (byteFallbackDec) decode(toks []string) []string {
	out := make([]string, 0, len(toks))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDec struct{}

func (fuseDec) decode(toks []string) []string { return []string{strings.Join(toks, "")} }

// stripDec removes up to start leading and stop trailing copies of content
// from each token.
type stripDec struct {
	content     rune
	start, stop int
}

func (d stripDec) decode(toks []string) []string {
	for i, t := range toks {
		for k := 0; k < d.start; k++ {
			r, n := utf8.DecodeRuneInString(t)
			if n == 0 || r != d.content {
				break
			}
			t = t[n:]
		}
		for k := 0; k < d.stop; k++ {
			r, n := utf8.DecodeLastRuneInString(t)
			if n == 0 || r != d.content {
				break
			}
			t = t[:len(t)-n]
		}
		toks[i] = t
	}
	return toks
}

// metaspaceDec turns the replacement back into spaces, dropping the space
// that the pre-tokenizer put before the first token.
type metaspaceDec struct {
	repl   string
	scheme prependScheme
}

func (d metaspaceDec) decode(toks []string) []string {
	for i, t := range toks {
		t = strings.ReplaceAll(t, d.repl, " ")
		if i == 0 && d.scheme != prependNever && strings.HasPrefix(t, " ") {
			t = t[1:]
		}
		toks[i] = t
	}
	return toks
}
