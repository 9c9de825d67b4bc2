package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

// TestBadCorpora: every broken user corpus stops prune with one line that
// says what to fix, and nothing is written.
func TestBadCorpora(t *testing.T) {
	c, _ := synth.Config(synth.Options{Family: "llama", Shape: "tiny"})
	dir := t.TempDir()
	src := filepath.Join(dir, "m")
	if err := synth.WriteHF(src, c, 1, tensor.BF16, ""); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	huge := make([]byte, 0, 100<<20+64)
	huge = append(huge, `{"text": "`...)
	for len(huge) < 100<<20 {
		huge = append(huge, "Ein langer Satz ohne Ende "...)
	}
	huge = append(huge, `"}`...)
	cases := []struct {
		name  string
		file  string
		extra []string
		want  string
	}{
		{"empty", write("empty.jsonl", nil), nil, "no documents"},
		{"not utf8", write("latin1.jsonl", []byte("{\"text\": \"Gr\xfc\xdfe\"}\n")), nil, "not valid UTF-8"},
		{"not json", write("bad.jsonl", []byte("{\"text\": \"ok\"}\nnot json\n")), nil, "bad.jsonl:2"},
		{"100 MB line", write("huge.jsonl", huge), nil, "line is longer than"},
		{"unknown tag", write("tags.jsonl", []byte("{\"text\": \"Hallo Welt\", \"language\": \"de\"}\n")), []string{"--language", "xx", "--builtin=false"}, `no calibration document has language "xx"`},
		{"one value of a list without a doc", write("de2.jsonl", []byte("{\"text\": \"Hallo Welt\", \"language\": \"de\"}\n")), []string{"--language", "de,xx", "--builtin=false"}, `no calibration document has language "xx"`},
		{"no doc for a dimension", write("de.jsonl", []byte("{\"text\": \"Hallo Welt\", \"language\": \"de\", \"domain\": \"law\"}\n")), []string{"--domain", "medicine", "--builtin=false"}, `no calibration document has domain "medicine"`},
		{"missing file", filepath.Join(dir, "nope.jsonl"), nil, "nope.jsonl"},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(k.name, " ", "-"))
			args := append([]string{"prune", "--model", src, "--ratio", "0.2", "--out", out, "--corpus", k.file, "--eval=false"}, k.extra...)
			_, errs, code := call(args...)
			if code == 0 {
				t.Fatal("prune accepted a bad corpus")
			}
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, k.want) {
				t.Fatalf("error %q; want it to contain %q", last, k.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("something was written at --out")
			}
		})
	}
}

// TestDatasetCorpora: a dataset given as it was downloaded (a JSON array
// of instruction records, chat JSONL, a CSV table) calibrates exactly as
// the same documents written as {"text": ...} lines do: the same expert,
// byte for byte.
func TestDatasetCorpora(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	pairs := [][2]string{
		{"Beantworte die Frage kurz.", "Die Kündigungsfrist beträgt drei Monate zum Monatsende."},
		{"Was regelt der Mietvertrag?", "Er regelt Miete, Nebenkosten, Kaution und die Pflichten beider Seiten."},
		{"Fasse zusammen: Der Vermieter muss Mängel beseitigen.", "Mängel beseitigt der Vermieter."},
	}
	var text, alpaca, chat, table strings.Builder
	alpaca.WriteString("[\n")
	table.WriteString("Instruction,Output\n")
	for i, p := range pairs {
		q, _ := json.Marshal(p[0])
		a, _ := json.Marshal(p[1])
		joined, _ := json.Marshal(p[0] + "\n\n" + p[1])
		fmt.Fprintf(&text, "{\"text\": %s}\n", joined)
		sep := ","
		if i == len(pairs)-1 {
			sep = ""
		}
		fmt.Fprintf(&alpaca, "  {\"instruction\": %s, \"input\": \"\", \"output\": %s}%s\n", q, a, sep)
		fmt.Fprintf(&chat, "{\"messages\": [{\"role\": \"user\", \"content\": %s}, {\"role\": \"assistant\", \"content\": %s}]}\n", q, a)
		fmt.Fprintf(&table, "%q,%q\r\n", p[0], p[1])
	}
	alpaca.WriteString("]\n")
	prune := func(name, data string) map[string][]byte {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out-"+name)
		mustCall(t, "prune", "--model", src, "--language", "de", "--builtin=false", "--corpus", path,
			"--ratio", "0.3", "--eval=false", "--out", out)
		return readTree(t, out)
	}
	want := prune("text.jsonl", text.String())
	for name, data := range map[string]string{"alpaca.json": alpaca.String(), "chat.jsonl": chat.String(), "table.csv": table.String()} {
		got := prune(name, data)
		for f, b := range want {
			if f != "README.md" && !bytes.Equal(got[f], b) {
				t.Errorf("%s: %s differs from the expert calibrated on the same text as JSONL", name, f)
			}
		}
	}
}

// TestCorpusSummaryOnStderr: prune says what it read from each --corpus
// file before any work: documents and language tags, or none.
func TestCorpusSummaryOnStderr(t *testing.T) {
	dir := t.TempDir()
	src := synthSource(t, dir, "llama", "tiny", nil)
	tagged := filepath.Join(dir, "t.jsonl")
	os.WriteFile(tagged, []byte(`{"text": "Guten Tag.", "language": "German"}`+"\n"+`{"text": "Bonjour.", "language": "fr"}`+"\n"+`{"text": "Hallo."}`+"\n"), 0o644)
	plain := filepath.Join(dir, "p.csv")
	os.WriteFile(plain, []byte("question,answer\nWarum?,Darum.\n"), 0o644)
	_, errs, code := call("prune", "--model", src, "--ratio", "0.2", "--corpus", tagged, "--corpus", plain, "--eval=false", "--out", filepath.Join(dir, "o"))
	if code != 0 {
		t.Fatalf("prune failed: %s", errs)
	}
	for _, want := range []string{
		"corpus " + tagged + ": 3 documents (de 1, fr 1, 1 untagged)",
		"corpus " + plain + ": 1 document, without a language tag (they count for the target's language)",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}
