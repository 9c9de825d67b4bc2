package prune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ReadQuestions reads multiple-choice questions, one JSON object per line,
// in the forms benchmarks are downloaded in:
//
//	{"question": "...", "choices": ["...", ...], "answer": 0}                MMLU
//	{"question": {"stem": "...", "choices": [{"text", "label"}]}, "answerKey": "B"}  ARC, OpenBookQA (AI2's files)
//	{"question": "...", "choices": {"text": [...], "label": [...]}, "answerKey": "B"} ARC on the Hub
//	{"ctx": "...", "endings": ["...", ...], "label": "2"}                     HellaSwag
//
// An answer is an index (a number or a numeral), a choice's label, a letter
// (A is the first choice) or the text of a choice. A file that is one JSON
// array of such objects is read too. Errors name the line (or the record
// of the array).
func ReadQuestions(r io.Reader, name string) ([]Question, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(4096); bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\ufeff")), " \t\r\n"), []byte("[")) {
		return readQuestionArray(br, name)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var qs []Question
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		if len(b) == 0 {
			continue
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(b, &rec); err != nil || rec == nil {
			if err == nil {
				err = fmt.Errorf("null")
			}
			return nil, fmt.Errorf("%s:%d: not a {question, choices, answer} object: %v", name, line, err)
		}
		q, err := questionOf(rec)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		qs = append(qs, q)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s: no questions", name)
	}
	return qs, nil
}

// readQuestionArray reads a JSON array of question objects.
func readQuestionArray(r *bufio.Reader, name string) ([]Question, error) {
	if b, _ := r.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		r.Discard(3)
	}
	var recs []map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&recs); err != nil {
		return nil, fmt.Errorf("%s: not a JSON array of {question, choices, answer} objects: %v", name, err)
	}
	var qs []Question
	for i, rec := range recs {
		if rec == nil {
			return nil, fmt.Errorf("%s: record %d of the array: not an object", name, i+1)
		}
		q, err := questionOf(rec)
		if err != nil {
			return nil, fmt.Errorf("%s: record %d of the array: %v", name, i+1, err)
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s: no questions", name)
	}
	return qs, nil
}

// questionOf reads one record's question, choices and answer.
func questionOf(rec map[string]json.RawMessage) (Question, error) {
	var q Question
	var labels []string
	// The question: a string, or AI2's {"stem", "choices"}.
	for _, k := range []string{"question", "ctx", "query", "prompt"} {
		raw, ok := rec[k]
		if !ok {
			continue
		}
		if json.Unmarshal(raw, &q.Question) != nil {
			var stem struct {
				Stem    string          `json:"stem"`
				Choices json.RawMessage `json:"choices"`
			}
			if json.Unmarshal(raw, &stem) != nil || stem.Stem == "" {
				return q, fmt.Errorf("%q is neither text nor {\"stem\": ...}", k)
			}
			q.Question = stem.Stem
			if stem.Choices != nil {
				if _, has := rec["choices"]; !has {
					rec["choices"] = stem.Choices
				}
			}
		}
		break
	}
	if strings.TrimSpace(q.Question) == "" {
		return q, fmt.Errorf("no question (expected \"question\" or \"ctx\" with text)")
	}
	// The choices: a list of texts, a list of {"text", "label"}, or
	// {"text": [...], "label": [...]}.
	for _, k := range []string{"choices", "endings", "options"} {
		raw, ok := rec[k]
		if !ok {
			continue
		}
		var texts []string
		var parts []struct {
			Text  string `json:"text"`
			Label string `json:"label"`
		}
		var cols struct {
			Text  []string `json:"text"`
			Label []string `json:"label"`
		}
		switch {
		case json.Unmarshal(raw, &texts) == nil:
			q.Choices = texts
		case json.Unmarshal(raw, &parts) == nil:
			for _, p := range parts {
				q.Choices = append(q.Choices, p.Text)
				labels = append(labels, p.Label)
			}
		case json.Unmarshal(raw, &cols) == nil && cols.Text != nil:
			q.Choices = cols.Text
			if len(cols.Label) == len(cols.Text) {
				labels = cols.Label
			}
		default:
			return q, fmt.Errorf("%q is not a list of choices", k)
		}
		break
	}
	if len(q.Choices) < 2 {
		return q, fmt.Errorf("needs at least two choices (\"choices\" or \"endings\"), has %d", len(q.Choices))
	}
	for _, k := range []string{"answer", "answerKey", "label", "gold"} {
		if raw, ok := rec[k]; ok {
			a, err := answerOf(raw, q.Choices, labels)
			if err != nil {
				return q, fmt.Errorf("%q: %v", k, err)
			}
			q.Answer = a
			return q, nil
		}
	}
	return q, fmt.Errorf("no answer (expected \"answer\", \"answerKey\" or \"label\")")
}

// answerOf is the index an answer names: a number, a choice's label, a
// letter (A the first choice), a numeral, or a choice's text, in that
// order of preference.
func answerOf(raw json.RawMessage, choices, labels []string) (int, error) {
	n := len(choices)
	var i int
	if json.Unmarshal(raw, &i) == nil {
		if i < 0 || i >= n {
			return 0, fmt.Errorf("answer index %d is not one of the %d choices", i, n)
		}
		return i, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0, fmt.Errorf("the answer is neither an index nor a label: %s", raw)
	}
	s = strings.TrimSpace(s)
	for k, l := range labels {
		if l != "" && l == s {
			return k, nil
		}
	}
	if len(s) == 1 {
		if c := s[0] | 0x20; c >= 'a' && c < 'a'+byte(n) {
			return int(c - 'a'), nil
		}
	}
	if k, err := strconv.Atoi(s); err == nil && k >= 0 && k < n {
		return k, nil
	}
	for k, c := range choices {
		if c == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("answer %q is not one of the %d choices (an index, a label, a letter or a choice's text)", s, n)
}
