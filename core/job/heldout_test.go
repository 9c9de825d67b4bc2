package job

import (
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/corpus"
)

// TestHeldOutNotes: the job's held-out text notes a part of the target the
// built-in text lacks, and the expert's own documents replace the expert
// slice.
func TestHeldOutNotes(t *testing.T) {
	for _, k := range []struct {
		o        Options
		note     string // "" for none
		expertOK bool   // the expert slice has documents
	}{
		{Options{Language: "de"}, "", true},
		{Options{Language: "de,xx"}, "rest of the target", true},
		{Options{Language: "xx"}, "not measured", false},
		{Options{Domain: "astrology"}, "not measured", false},
		{Options{Language: "xx", EvalData: []corpus.Doc{{Text: "a"}, {Text: "b"}, {Text: "c"}}, EvalDocs: 2}, "", true},
	} {
		slices, note, err := k.o.HeldOut()
		if err != nil {
			t.Fatal(err)
		}
		if (note == "") != (k.note == "") || !strings.Contains(note, k.note) {
			t.Errorf("%+v: note %q, want one saying %q", k.o.Target(), note, k.note)
		}
		if got := len(slices[0].Docs) > 0; slices[0].Name != "expert" || got != k.expertOK {
			t.Errorf("%+v: expert slice %q of %d documents", k.o.Target(), slices[0].Name, len(slices[0].Docs))
		}
		if len(slices[1].Docs) == 0 {
			t.Errorf("%+v: no general mix", k.o.Target())
		}
	}
	o := Options{EvalData: []corpus.Doc{{Text: "a"}, {Text: "b"}, {Text: "c"}}, EvalDocs: 2}
	if s, _, _ := o.HeldOut(); len(s[0].Docs) != 2 || s[0].Docs[0].Text != "a" {
		t.Errorf("own held-out text capped to 2: %v", s[0].Docs)
	}
}
