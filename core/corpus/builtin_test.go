package corpus

import (
	"fmt"
	"strings"
	"testing"
)

// TestCanonical: the names people give a target (language names in
// English and their own script, ISO 639-2 codes, tags with a region or
// script, synonyms of domains and tasks, any case) reach the built-in value,
// and values that are not names of one stay as they are.
func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"de": "de", "German": "de", " Deutsch ": "de", "de-AT": "de", "de_CH": "de", "ger": "de",
		"zh-Hans": "zh", "zh_Hant_TW": "zh", "Chinese": "zh", "中文": "zh",
		"Русский": "ru", "ru-RU": "ru", "Español": "es", "es-419": "es", "日本語": "ja", "FRA": "fr",
		"pt-BR": "pt", "Legal": "law", "medical": "medicine", "Question-Answering": "qa",
		"law": "law", "science": "science", "klingon": "klingon", "any": "any",
		"Italian": "it", "italiano": "it", "Português": "pt", "Bahasa Indonesia": "id", "한국어": "ko",
		"Question Answering": "qa", "Q&A": "qa", "summarise": "summarization", "Healthcare": "medicine", "software": "code",
		"iw": "he", "nb": "no", "Tiếng Việt": "vi", "TÜRKÇE": "tr", "Ελληνικά": "el", "hin": "hi",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
	if !OneOf("German,fr", "de") || !OneOf("pt", "pt-BR") || OneOf("de", "en") {
		t.Error("OneOf does not compare by canonical names")
	}
}

// TestLanguageTable: every line of the table starts with a two-letter code
// and no name stands for two languages, or for a domain or task.
func TestLanguageTable(t *testing.T) {
	seen := map[string]string{}
	for _, line := range languages {
		f := strings.Fields(line)
		if len(f) < 2 || len(f[0]) != 2 || strings.ToLower(f[0]) != f[0] {
			t.Errorf("line %q: want a two-letter lower-case code and names", line)
			continue
		}
		for _, name := range f {
			if name != strings.ToLower(name) {
				t.Errorf("%q: names are lower case", name)
			}
			if other, ok := seen[name]; ok && other != f[0] {
				t.Errorf("%q names both %s and %s", name, other, f[0])
			}
			if _, ok := synonyms[name]; ok {
				t.Errorf("%q names a language and a domain or task", name)
			}
			seen[name] = f[0]
		}
	}
}

// TestLanguageOfTag holds the tag rule to its definition: 2 or 3 letters,
// then one or more subtags of 2 to 8 letters or digits after - or _.
func TestLanguageOfTag(t *testing.T) {
	for in, want := range map[string]string{
		"de-at": "de", "zh_hans_cn": "zh", "es-419": "es", "sgn-ase": "sgn",
		"question-answering": "", "de": "", "de-": "", "-at": "", "de--at": "", "d-at": "", "deut-at": "",
		"de-a": "", "de-abcdefghi": "", "d3-at": "", "de at": "",
	} {
		got, ok := languageOfTag(in)
		if ok != (want != "") || got != want {
			t.Errorf("languageOfTag(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestBuiltinFollowsThePlan: PLAN.tsv lists every built-in document's split
// and tags in file order, and every language has 12 calibration and 4
// held-out documents, one per line of its plan.
func TestBuiltinFollowsThePlan(t *testing.T) {
	plan, err := builtin.ReadFile("builtin/PLAN.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(plan)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("PLAN.tsv line %q: want split, language, domain, task", line)
		}
		want[f[0]+"/"+f[1]] = append(want[f[0]+"/"+f[1]], f[2]+"/"+f[3])
	}
	for _, split := range []string{"calib", "heldout"} {
		docs, err := Builtin(split)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, d := range docs {
			if d.Language == "" || d.Domain == "" || d.Task == "" || len(d.Text) < 400 {
				t.Errorf("%s: a %d-byte document tagged %q/%q/%q", split, len(d.Text), d.Language, d.Domain, d.Task)
			}
			got[split+"/"+d.Language] = append(got[split+"/"+d.Language], d.Domain+"/"+d.Task)
		}
		per := map[string]int{"calib": 12, "heldout": 4}[split]
		for k, tags := range got {
			if strings.Join(tags, ",") != strings.Join(want[k], ",") {
				t.Errorf("%s: documents tagged %v, PLAN.tsv says %v", k, tags, want[k])
			}
			if len(tags) != per {
				t.Errorf("%s: %d documents, want %d", k, len(tags), per)
			}
		}
		for k := range want {
			if strings.HasPrefix(k, split+"/") && got[k] == nil {
				t.Errorf("PLAN.tsv lists %s, which has no documents", k)
			}
		}
	}
}

// TestCalibrationNeedsEveryValue: a target of several values takes the
// documents of each, and one value with no document is an error naming it
// (before, "de,xx" calibrated on German alone without a word); a document
// without a tag counts for every value.
func TestCalibrationNeedsEveryValue(t *testing.T) {
	docs := []Doc{
		{Text: "a", Language: "de", Domain: "news"},
		{Text: "b", Language: "fr", Domain: "law"},
		{Text: "c", Language: "en", Domain: "news"},
	}
	got, err := Target{Language: "de,fr"}.Calibration(docs)
	if err != nil || len(got) != 2 || got[0].Text != "a" || got[1].Text != "b" {
		t.Fatalf("de,fr: %v, %v", got, err)
	}
	for _, k := range []struct {
		target Target
		want   string
	}{
		{Target{Language: "de,xx"}, `language "xx"`},
		{Target{Language: "xx,de"}, `language "xx"`},
		{Target{Language: "de", Domain: "law,medicine"}, `domain "medicine"`},
	} {
		_, err := k.target.Calibration(docs)
		if err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%+v: error %v, want one naming %s", k.target, err, k.want)
		}
	}
	// An untagged document stands for any value.
	withUser := append(docs, Doc{Text: "mine"})
	if got, err := (Target{Language: "de,xx"}).Calibration(withUser); err != nil || len(got) != 2 {
		t.Errorf("de,xx with an untagged document: %d docs, %v", len(got), err)
	}
}

// TestMissing lists every chosen value that no document has, in order,
// values of lists each on its own; names count under their canonical value.
func TestMissing(t *testing.T) {
	docs := []Doc{
		{Text: "a", Language: "de", Domain: "news"},
		{Text: "b", Language: "fr", Domain: "law"},
	}
	for _, k := range []struct {
		target Target
		want   string
	}{
		{Target{}, "[]"},
		{Target{Language: "any", Domain: "any"}, "[]"},
		{Target{Language: "German,fr"}, "[]"},
		{Target{Language: "de,xx,yy"}, `[language "xx" language "yy"]`},
		{Target{Language: "xx", Domain: "legal,medicine"}, `[language "xx" domain "medicine"]`},
		{Target{Task: "qa"}, "[]"}, // no document tags a task: each stands for any
	} {
		if got := fmt.Sprint(k.target.Missing(docs)); got != k.want {
			t.Errorf("%+v: missing %s, want %s", k.target, got, k.want)
		}
	}
	// An untagged document counts for every value.
	if m := (Target{Language: "xx"}).Missing(append(docs, Doc{Text: "mine"})); len(m) != 0 {
		t.Errorf("xx with an untagged document: missing %v", m)
	}
}
