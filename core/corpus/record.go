package corpus

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// A record is one document as a dataset stores it: a JSON object, or a CSV
// row keyed by its header. DESIGN §4's form is {"text": ...}; the shapes
// below are what the instruction, chat, question-answering and
// summarization datasets people download use instead, so that such a file
// calibrates as it is, without a conversion script.

// chatKeys name a list of chat turns: {"role"|"from", "content"|"value"}
// (the OpenAI and Hugging Face form, and ShareGPT's).
var chatKeys = []string{"messages", "conversations", "conversation"}

// textKeys are the fields a record's text is made of when it has no "text"
// field, in the order a reader meets them: instruction before input before
// output, question and context before the answer, the document before its
// summary. They are joined by blank lines.
var textKeys = []string{
	"system", "instruction", "prompt", "question", "query", "context",
	"input", "document", "article", "passage", "content",
	"output", "answer", "response", "completion", "summary", "highlights",
}

// tagKeys are the record's tags (DESIGN §4).
var tagKeys = []string{"language", "domain", "task"}

// docOf makes a document of a record's fields: "text" when there is one,
// else the chat turns' contents, else the textKeys present. An error says
// what was missing or of the wrong kind, without the record's position
// (the caller adds it).
func docOf(rec map[string]json.RawMessage) (Doc, error) {
	var d Doc
	tags := []*string{&d.Language, &d.Domain, &d.Task}
	for i, k := range tagKeys {
		s, ok, err := stringField(rec, k)
		if err != nil {
			return d, err
		}
		if ok {
			*tags[i] = s
		}
	}
	if _, has := rec["text"]; has {
		s, _, err := stringField(rec, "text")
		if err != nil {
			return d, err
		}
		if strings.TrimSpace(s) == "" {
			return d, fmt.Errorf("\"text\" is empty")
		}
		d.Text = s
		return d, nil
	}
	var parts []string
	for _, k := range chatKeys {
		if raw, has := rec[k]; has {
			turns, err := chatText(raw)
			if err != nil {
				return d, fmt.Errorf("%q: %v", k, err)
			}
			parts = append(parts, turns...)
			break
		}
	}
	if parts == nil {
		for _, k := range textKeys {
			s, _, err := stringField(rec, k)
			if err != nil {
				return d, err
			}
			if strings.TrimSpace(s) != "" {
				parts = append(parts, s)
			}
		}
	}
	if len(parts) == 0 {
		return d, fmt.Errorf("no text: expected a \"text\" field, chat \"messages\", or fields such as \"instruction\" and \"output\" (this one has %s)", keyList(rec))
	}
	d.Text = strings.Join(parts, "\n\n")
	return d, nil
}

// stringField reads rec[k] as a string; a missing or null field is absent
// (ok false), and a number, list or object is an error naming the field.
func stringField(rec map[string]json.RawMessage, k string) (s string, ok bool, err error) {
	raw, has := rec[k]
	if !has || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("%q is not a string", k)
	}
	return s, true, nil
}

// chatText returns the non-empty contents of a list of chat turns. A turn's
// content is a string, or a list of parts of which the {"type": "text"}
// ones are read (the multimodal form).
func chatText(raw json.RawMessage) ([]string, error) {
	var turns []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &turns); err != nil {
		return nil, fmt.Errorf("not a list of turns like {\"role\": ..., \"content\": ...}")
	}
	var out []string
	for i, turn := range turns {
		raw, has := turn["content"]
		if !has {
			raw, has = turn["value"]
		}
		if !has || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var ps []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if json.Unmarshal(raw, &ps) != nil {
				return nil, fmt.Errorf("turn %d: content is neither a string nor a list of parts", i+1)
			}
			var texts []string
			for _, p := range ps {
				if p.Type == "text" && p.Text != "" {
					texts = append(texts, p.Text)
				}
			}
			s = strings.Join(texts, "\n")
		}
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// keyList names a record's fields for an error message, sorted, at most
// eight of them.
func keyList(rec map[string]json.RawMessage) string {
	if len(rec) == 0 {
		return "no fields"
	}
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, fmt.Sprintf("%q", k))
	}
	slices.Sort(keys)
	if len(keys) > 8 {
		keys = append(keys[:8], "…")
	}
	return "fields " + strings.Join(keys, ", ")
}
