package corpus

import (
	"strings"
	"testing"
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
		{"no text", "{\"text\":\"a\"}\n{\"language\":\"de\"}", "a.jsonl:2: no \"text\""},
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
