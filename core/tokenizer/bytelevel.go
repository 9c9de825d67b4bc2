package tokenizer

import "unicode/utf8"

// The byte-level alphabet (GPT-2 and descendants): every byte is mapped to a
// printable rune so that BPE works on text without raw control bytes or
// spaces. Printable Latin-1 bytes map to themselves; the remaining 68 bytes
// map, in byte order, to U+0100 and up.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
	// byteToStr[b] is string(byteToRune[b]), ready to append.
	byteToStr [256]string
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		r := rune(b)
		if !printable {
			r = rune(256 + n)
			n++
		}
		byteToRune[b] = r
		runeToByte[r] = byte(b)
		byteToStr[b] = string(r)
	}
}

// byteLevelEncode maps the bytes of s into the byte-level alphabet.
func byteLevelEncode(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '!' && c <= '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, byteToStr[c]...)
	}
	return dst
}

// byteLevelDecode maps one token's byte-level runes back to bytes. A token
// holding a rune outside the alphabet is taken as its own UTF-8 bytes, as
// Hugging Face's ByteLevel decoder does.
func byteLevelDecode(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], tok...)
		}
		dst = append(dst, b)
	}
	return dst
}

// lossyUTF8 turns bytes into a string the way Rust's String::from_utf8_lossy
// does: each maximal invalid subsequence becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		// Invalid: skip the longest prefix of a well-formed sequence.
		i += invalidPrefixLen(b[i:])
		out = append(out, "\uFFFD"...)
	}
	return string(out)
}

// invalidPrefixLen is the length of the maximal subpart of an ill-formed
// sequence starting at b[0] (Unicode's "maximal subpart" rule), at least 1.
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}
