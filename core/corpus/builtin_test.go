package corpus

import (
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
