package tokenizer

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

var fastPatterns = []string{gpt2Pattern, reGPT2, hfLlama3Pattern, reLlama3, hfQwen2Pattern, reQwen2}

// splitAlphabet has a character of every class the patterns tell apart.
var splitAlphabet = []string{
	" ", " ", " ", "\n", "\r", "\t", "\v", "\u00a0", "\u3000", "\u2028", "\u0085",
	"a", "Z", "é", "中", "ж", "ا", "क", "ि", "\u0301", "ß",
	"1", "9", "٣", "Ⅻ", "½", "'", "s", "t", "r", "e", "v", "m", "l", "d", "S", "L", "D", "R", "E",
	"!", ".", ",", "-", "😀", "\u200d", "\ufffd", "\xff", "\xe4\xb8", "_", "$",
}

func randomSplitText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(splitAlphabet[rng.Intn(len(splitAlphabet))])
	}
	return b.String()
}

// fastCase is a pattern with its regular expression and hand-written matcher,
// built once: checkFast runs per fuzz input.
type fastCase struct {
	pattern string
	re      *regexp2.Regexp
	fast    matchFinder
}

func fastCases(t testing.TB) []fastCase {
	var cs []fastCase
	for _, p := range fastPatterns {
		re, err := compileRegex(p)
		if err != nil {
			t.Fatal(err)
		}
		f := fastFinder(p)
		if f == nil {
			t.Fatalf("no fast matcher for %q", p)
		}
		cs = append(cs, fastCase{p, re, f})
	}
	return cs
}

func checkFast(t *testing.T, cs []fastCase, s string) {
	t.Helper()
	for _, c := range cs {
		want := findAll(c.re, s)
		got := c.fast.find(s)
		if len(got) != len(want) {
			t.Fatalf("pattern %q on %q:\n fast  %v\n regex %v", c.pattern, s, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("pattern %q on %q:\n fast  %v\n regex %v", c.pattern, s, got, want)
			}
		}
	}
}

func TestFastSplitters(t *testing.T) {
	cs := fastCases(t)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		checkFast(t, cs, randomSplitText(rng, 1+rng.Intn(24)))
	}
	checkFast(t, cs, "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ 'RE 'll 'LL \n\n \t  x  ")
}

// FuzzFastSplitters compares the hand-written pre-tokenizer matchers with
// the regular expressions they replace. The expressions are compiled once,
// outside the fuzzed function.
func FuzzFastSplitters(f *testing.F) {
	cs := fastCases(f)
	f.Add("Hello world's 123 4567 \n\n  x")
	f.Add("'S'Ll 're\r\n\t ")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 {
			return
		}
		checkFast(t, cs, s)
	})
}
