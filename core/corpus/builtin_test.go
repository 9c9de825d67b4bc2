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
