package corpus

import "testing"

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
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
	if !OneOf("German,fr", "de") || !OneOf("pt", "pt-BR") || OneOf("de", "en") {
		t.Error("OneOf does not compare by canonical names")
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
