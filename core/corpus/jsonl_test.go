package corpus

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestReadJSONL(t *testing.T) {
	docs, err := ReadJSONL(strings.NewReader("{\"text\":\"Hallo Welt\",\"language\":\"de\"}\n\n{\"text\":\"x\",\"domain\":\"law\",\"task\":\"qa\"}"), "a.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Language != "de" || docs[1].Domain != "law" || docs[1].Task != "qa" {
		t.Fatalf("got %+v", docs)
	}
}

func TestReadJSONLBad(t *testing.T) {
	long := "{\"text\":\"" + strings.Repeat("a", MaxLine+10) + "\"}\n{\"text\":\"ok\"}"
	for _, c := range []struct{ name, in, want string }{
		{"empty", "", "no documents"},
		{"blank", "\n\n  \n", "no documents"},
		{"not utf8", "{\"text\":\"\xff\xfe\"}", "UTF-8"},
		{"not json", "hello", "a.jsonl:1: not a JSON object"},
		{"no text", "{\"text\":\"a\"}\n{\"language\":\"de\"}", "a.jsonl:2: no text: expected a \"text\" field, chat \"messages\", or fields such as \"instruction\" and \"output\" (this one has fields \"language\")"},
		{"empty text", "{\"text\":\" \"}", "a.jsonl:1: \"text\" is empty"},
		{"text not a string", "{\"text\":[\"a\"]}", "a.jsonl:1: \"text\" is not a string"},
		{"tag not a string", "{\"text\":\"a\",\"language\":7}", "a.jsonl:1: \"language\" is not a string"},
		{"not an object", "[1,2]", "a.jsonl:1: not a JSON object"},
		{"null", "null", "a.jsonl:1: not a JSON object"},
		{"pretty printed", "{\n  \"text\": \"a\"\n}", "a.jsonl:1: not a JSON object like {\"text\": \"...\"} (JSONL holds one whole object per line)"},
		{"bad turns", "{\"messages\":\"hi\"}", "a.jsonl:1: \"messages\": not a list of turns"},
		{"bad content", "{\"messages\":[{\"role\":\"user\",\"content\":3}]}", "turn 1: content is neither a string nor a list of parts"},
		{"long line", long, "a.jsonl:1: line is longer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadJSONL(strings.NewReader(c.in), "a.jsonl")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte("{\"text\":\"Hallo\",\"language\":\"de\"}\n"))
	f.Add([]byte("{\"text\":1}\n\n{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 { // one input costs milliseconds, far below the fuzzer's 10 s limit
			return
		}
		docs, err := ReadJSONL(strings.NewReader(string(b)), "f")
		if err == nil {
			for _, d := range docs {
				if d.Text == "" {
					t.Fatal("accepted an empty document")
				}
			}
		}
	})
}

// TestRead: corpus files as people have them: gzip compressed (told by
// their bytes, whatever the name), a name in upper case, a UTF-8 byte order
// mark, Windows line ends; a damaged stream is an error naming the file, and
// a zstd one, which is not read, says so.
func TestRead(t *testing.T) {
	jsonl := "{\"text\": \"Guten Morgen.\", \"language\": \"de\"}\r\n\r\n{\"text\": \"Bonjour.\"}\r\n"
	text := "Erster Absatz.\n\nZweiter Absatz."
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	zst := func(s string) []byte {
		w, _ := zstd.NewWriter(nil)
		return w.EncodeAll([]byte(s), nil)
	}
	for _, c := range []struct {
		name string
		data []byte
		want []string
	}{
		{"a.jsonl", []byte(jsonl), []string{"Guten Morgen.", "Bonjour."}},
		{"A.JSONL", []byte("\ufeff" + jsonl), []string{"Guten Morgen.", "Bonjour."}},
		{"a.jsonl.gz", gz(jsonl), []string{"Guten Morgen.", "Bonjour."}},
		{"a.txt", []byte("\ufeff" + text), []string{"Erster Absatz.\n\nZweiter Absatz."}},
		{"a.txt.gz", gz(text), []string{"Erster Absatz.\n\nZweiter Absatz."}},
	} {
		docs, err := Read(bytes.NewReader(c.data), c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for _, d := range docs {
			got = append(got, d.Text)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: documents %q, want %q", c.name, got, c.want)
		}
		if strings.HasPrefix(c.name, "a.jsonl") && docs[0].Language != "de" {
			t.Errorf("%s: language %q", c.name, docs[0].Language)
		}
	}
	long := strings.Repeat(jsonl, 2000)
	for name, data := range map[string][]byte{"cut.jsonl.gz": gz(long)[:200], "a.jsonl.zst": zst(long)} {
		_, err := Read(bytes.NewReader(data), name)
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s (cut short): error %v; want one line naming the file", name, err)
		}
	}
}

// TestReadFolder: --corpus DIR reads the folder's corpus files in name
// order (compressed ones too), and leaves out hidden files, other files and
// subfolders; a folder without corpus files says what it looked for.
func TestReadFolder(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("Zweites Dokument, komprimiert."))
	w.Close()
	for name, data := range map[string][]byte{
		"a.jsonl":       []byte(`{"text": "Erstes Dokument."}` + "\n"),
		"B.TXT.GZ":      gz.Bytes(),
		".hidden.jsonl": []byte(`{"text": "versteckt"}` + "\n"),
		"notes.bin":     []byte("binary"),
		"sub/c.jsonl":   []byte(`{"text": "im Unterordner"}` + "\n"),
		"z.csv":         []byte("question,answer\nWarum?,Darum.\n"),
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := ReadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.Text)
	}
	// os.ReadDir's order is by bytes: upper case before lower case.
	want := []string{"Zweites Dokument, komprimiert.", "Erstes Dokument.", "Warum?\n\nDarum."}
	if !slices.Equal(got, want) {
		t.Fatalf("documents %q, want %q", got, want)
	}
	empty := filepath.Join(dir, "sub2")
	os.MkdirAll(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "x.bin"), nil, 0o644)
	if _, err := ReadFile(empty); err == nil || !strings.Contains(err.Error(), "a folder with no corpus files") {
		t.Fatalf("a folder without corpus files: %v", err)
	}
}
