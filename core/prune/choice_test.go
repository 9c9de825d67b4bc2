package prune

import (
	"math"
	"slices"
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

// TestReadQuestionsForms: the forms benchmarks are downloaded in (MMLU,
// AI2's ARC and OpenBookQA, ARC on the Hub, HellaSwag) give the same
// question, choices and answer; answers by index, label, letter, numeral
// or text.
func TestReadQuestionsForms(t *testing.T) {
	want := Question{Question: "Wo liegt Paris?", Choices: []string{"Italien", "Frankreich", "Spanien"}, Answer: 1}
	for _, in := range []string{
		`{"question": "Wo liegt Paris?", "choices": ["Italien", "Frankreich", "Spanien"], "answer": 1, "subject": "geo"}`,
		`{"id": "x", "question": {"stem": "Wo liegt Paris?", "choices": [{"text": "Italien", "label": "A"}, {"text": "Frankreich", "label": "B"}, {"text": "Spanien", "label": "C"}]}, "answerKey": "B"}`,
		`{"question": "Wo liegt Paris?", "choices": {"text": ["Italien", "Frankreich", "Spanien"], "label": ["1", "2", "3"]}, "answerKey": "2"}`,
		`{"ctx": "Wo liegt Paris?", "endings": ["Italien", "Frankreich", "Spanien"], "label": "1"}`,
		`{"question": "Wo liegt Paris?", "options": ["Italien", "Frankreich", "Spanien"], "answer": "b"}`,
		`{"question": "Wo liegt Paris?", "choices": ["Italien", "Frankreich", "Spanien"], "answer": "Frankreich"}`,
	} {
		qs, err := ReadQuestions(strings.NewReader("\n"+in+"\n"), "q.jsonl")
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if len(qs) != 1 || qs[0].Question != want.Question || !slices.Equal(qs[0].Choices, want.Choices) || qs[0].Answer != want.Answer {
			t.Errorf("%s: read %+v, want %+v", in, qs, want)
		}
	}
	// The same question in a JSON array, as json.dump writes it.
	arr := "\ufeff[\n  {\"question\": \"Wo liegt Paris?\", \"choices\": [\"Italien\", \"Frankreich\", \"Spanien\"], \"answer\": \"B\"}\n]\n"
	if qs, err := ReadQuestions(strings.NewReader(arr), "q.json"); err != nil || len(qs) != 1 || qs[0].Answer != 1 || qs[0].Question != want.Question {
		t.Errorf("a JSON array: %+v, %v", qs, err)
	}
	for in, msg := range map[string]string{
		`[{"question": "q", "choices": ["a", "b"], "answer": 0}, {"question": "q", "choices": ["a"]}]`: "q.jsonl: record 2 of the array: needs at least two choices",
		`[{"question": "q"`: "q.jsonl: not a JSON array",
		`{"question": 3, "choices": ["a", "b"], "answer": 0}`:                             `q.jsonl:1: "question" is neither text nor {"stem": ...}`,
		`{"choices": ["a", "b"], "answer": 0}`:                                            "q.jsonl:1: no question",
		`{"question": "q", "choices": "ab", "answer": 0}`:                                 `q.jsonl:1: "choices" is not a list of choices`,
		`{"question": "q", "choices": ["a", "b"]}`:                                        "q.jsonl:1: no answer",
		`{"question": "q", "choices": ["a", "b"], "answerKey": "E"}`:                      `q.jsonl:1: "answerKey": answer "E" is not one of the 2 choices`,
		`{"question": "q", "choices": ["a", "b"], "answer": 1.5}`:                         "q.jsonl:1: \"answer\": the answer is neither an index nor a label: 1.5",
		`{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}`: "needs at least two choices",
	} {
		if _, err := ReadQuestions(strings.NewReader(in), "q.jsonl"); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: error %v, want %q", in, err, msg)
		}
	}
}
