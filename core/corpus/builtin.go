package corpus

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// The built-in corpora: documents this team wrote for calibration (calib/)
// and for held-out evaluation (heldout/), one JSONL file per language, each
// document tagged with language, domain and task (PLAN.tsv lists the tags).
//
//go:embed builtin
var builtin embed.FS

// Builtin returns the built-in documents of a split ("calib" or "heldout").
func Builtin(split string) ([]Doc, error) {
	dir := path.Join("builtin", split)
	ents, err := fs.ReadDir(builtin, dir)
	if err != nil {
		return nil, fmt.Errorf("no built-in %s corpus", split)
	}
	var names []string
	for _, e := range ents {
		if path.Ext(e.Name()) == ".jsonl" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var docs []Doc
	for _, n := range names {
		b, _ := builtin.ReadFile(path.Join(dir, n))
		d, err := ReadJSONL(bytes.NewReader(b), "built-in "+split+"/"+n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// Values lists the distinct tags of a dimension ("language", "domain",
// "task") among docs, sorted.
func Values(docs []Doc, dim string) []string {
	seen := map[string]bool{}
	for _, d := range docs {
		if v := d.Tag(dim); v != "" {
			seen[v] = true
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Tag is the document's value for a dimension.
func (d Doc) Tag(dim string) string {
	switch dim {
	case "language":
		return d.Language
	case "domain":
		return d.Domain
	case "task":
		return d.Task
	}
	return ""
}

// Dims are the three dimensions of an expert target.
var Dims = []string{"language", "domain", "task"}

// Target is what the expert is for; "" (or "any") leaves a dimension open.
type Target struct{ Language, Domain, Task string }

// Get is the target's value for a dimension, "" when open.
func (t Target) Get(dim string) string {
	v := map[string]string{"language": t.Language, "domain": t.Domain, "task": t.Task}[dim]
	if v == "any" {
		return ""
	}
	return v
}

// OneOf reports whether tag is one of the comma-separated values of a
// target dimension ("de,en": an expert for two languages). Values and tags
// compare by their canonical name, case aside ("legal" is "law").
func OneOf(values, tag string) bool {
	tag = Canonical(tag)
	for _, v := range strings.Split(values, ",") {
		if Canonical(v) == tag {
			return true
		}
	}
	return false
}

// synonyms are other names people and corpora use for the built-in values
// of domains and tasks; languages' names are in languages.go.
var synonyms = map[string]string{
	"legal": "law", "laws": "law",
	"medical": "medicine", "health": "medicine", "healthcare": "medicine", "clinical": "medicine",
	"programming": "code", "coding": "code", "software": "code",
	"financial": "finance", "banking": "finance",
	"scientific":         "science",
	"question-answering": "qa", "question answering": "qa", "q&a": "qa", "questions": "qa",
	"summarisation": "summarization", "summary": "summarization", "summarize": "summarization", "summarise": "summarization",
	"translate": "translation", "classify": "classification", "reason": "reasoning",
}

// languageOfTag returns the language subtag of a lower-case language tag
// with region or script subtags ("de-at", "zh_hans_cn", "pt-br": 2 or 3
// letters, then subtags of 2 to 8 letters or digits after - or _), and
// false for anything else ("question-answering").
func languageOfTag(v string) (string, bool) {
	parts := strings.FieldsFunc(v, func(r rune) bool { return r == '-' || r == '_' })
	if len(parts) < 2 || strings.Count(v, "-")+strings.Count(v, "_") != len(parts)-1 {
		return "", false
	}
	for i, p := range parts {
		lo, hi := 2, 8
		if i == 0 {
			hi = 3
		}
		if len(p) < lo || len(p) > hi {
			return "", false
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
				return "", false
			}
		}
	}
	return parts[0], true
}

// Canonical is a value's built-in name: lower case, synonyms mapped
// ("Legal" -> "law", "German" -> "de"), a language tag's region or script
// dropped ("de-AT" -> "de", "zh-Hans" -> "zh").
func Canonical(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if l, ok := languageOfTag(v); ok {
		v = l
	}
	if c, ok := synonyms[v]; ok {
		return c
	}
	if c, ok := languageNames[v]; ok {
		return c
	}
	return v
}

// Calibration returns the union of the target's corpora, C_L ∪ C_D ∪ C_T
// (DESIGN §1): every document whose tag equals the chosen value of some
// dimension, or that leaves that dimension untagged (a user document counts
// for the chosen value). With no dimension chosen, every document. A chosen
// value with no document is an error that says what to add.
func (t Target) Calibration(docs []Doc) ([]Doc, error) {
	if t.Get("language") == "" && t.Get("domain") == "" && t.Get("task") == "" {
		return docs, nil
	}
	// Each value of a list ("de,xx") needs a document of its own: one
	// without any would otherwise be dropped without a word.
	if m := t.Missing(docs); len(m) > 0 {
		return nil, fmt.Errorf("no calibration document has %s; add your own calibration text with such documents (--corpus FILE)", m[0].Known(docs))
	}
	var out []Doc
	for _, d := range docs {
		for _, dim := range Dims {
			v := t.Get(dim)
			if tag := d.Tag(dim); v != "" && (tag == "" || OneOf(v, tag)) {
				out = append(out, d)
				break
			}
		}
	}
	return out, nil
}

// Absent is one chosen value of a target that no document has.
type Absent struct {
	Dim, Value string
}

func (a Absent) String() string { return fmt.Sprintf("%s %q", a.Dim, a.Value) }

// Known says which value is absent and which ones docs do have:
// `language "xx" (known: [de en])`.
func (a Absent) Known(docs []Doc) string {
	return fmt.Sprintf("%s (known: %v)", a, Values(docs, a.Dim))
}

// Missing lists, in Dims order, each chosen value (each value of a list)
// that no document is tagged with; a document that leaves the dimension
// untagged counts for every value, as in Calibration.
func (t Target) Missing(docs []Doc) []Absent {
	var out []Absent
	for _, dim := range Dims {
		if t.Get(dim) == "" {
			continue
		}
		for _, v := range strings.Split(t.Get(dim), ",") {
			found := false
			for _, d := range docs {
				if tag := d.Tag(dim); tag == "" || OneOf(v, tag) {
					found = true
					break
				}
			}
			if !found {
				out = append(out, Absent{dim, strings.TrimSpace(v)})
			}
		}
	}
	return out
}

// Slice returns the documents matching every chosen dimension (the expert
// slice of held-out text), or, when fewer than min match all, those matching
// any chosen dimension.
func (t Target) Slice(docs []Doc, min int) []Doc {
	var all, anyOf []Doc
	for _, d := range docs {
		every, some, chosen := true, false, false
		for _, dim := range Dims {
			v := t.Get(dim)
			if v == "" {
				continue
			}
			chosen = true
			if OneOf(v, d.Tag(dim)) {
				some = true
			} else {
				every = false
			}
		}
		if !chosen || every {
			all = append(all, d)
		}
		if some {
			anyOf = append(anyOf, d)
		}
	}
	if len(all) >= min {
		return all
	}
	return anyOf
}
