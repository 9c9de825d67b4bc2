package prune

import (
	"math"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/synth"
)

// TestNLLFromMatchesLogits checks the answer-only log-likelihood against
// log-softmax of the full logits, position by position.
func TestNLLFromMatchesLogits(t *testing.T) {
	m, _, _ := synthModel(t, synth.Options{Family: "llama", Shape: "tiny"}, "hf")
	seq := []int{1, 300, 271, 282, 290, 301, 262}
	from := 4
	sum, count, err := m.NLLFrom(model.CPU{}, [][]int{seq}, []int{from}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, err := m.AllLogits(model.CPU{}, seq)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.Vocab
	want := 0.0
	for p := from - 1; p+1 < len(seq); p++ {
		row := all[p*V : (p+1)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		want += mx + math.Log(s) - float64(row[seq[p+1]])
	}
	if count[0] != len(seq)-from || math.Abs(sum[0]-want) > 1e-3 {
		t.Fatalf("NLLFrom = %g over %d tokens, want %g over %d", sum[0], count[0], want, len(seq)-from)
	}
}

func TestReadQuestionsBad(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "no questions"},
		{`{"question":"q","choices":["a"],"answer":0}`, "q.jsonl:1: needs"},
		{`{"question":"q","choices":["a","b"],"answer":2}`, "answer index"},
		{"nope", "q.jsonl:1: not a"},
	} {
		if _, err := ReadQuestions(strings.NewReader(c.in), "q.jsonl"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}
