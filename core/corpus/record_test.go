package corpus

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestReadRecords: the shapes datasets come in (instruction, chat,
// question answering, summarization; a JSON array, a CSV or TSV table)
// each give the documents a reader would take from them, fields in the
// order written down in record.go, and tags where a record has them.
func TestReadRecords(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []Doc
	}{
		{"alpaca.json", "\ufeff[\n  {\"instruction\": \"Übersetze.\", \"input\": \"Good morning\", \"output\": \"Guten Morgen\"},\n  {\"instruction\": \"Nenne eine Farbe.\", \"input\": \"\", \"output\": \"Blau\", \"language\": \"de\"}\n]\n",
			[]Doc{{Text: "Übersetze.\n\nGood morning\n\nGuten Morgen"}, {Text: "Nenne eine Farbe.\n\nBlau", Language: "de"}}},
		{"chat.jsonl", "{\"messages\": [{\"role\": \"system\", \"content\": \"Sei kurz.\"}, {\"role\": \"user\", \"content\": \"Hallo?\"}, {\"role\": \"assistant\", \"content\": \"Hallo!\"}], \"task\": \"qa\"}\n" +
			"{\"conversations\": [{\"from\": \"human\", \"value\": \"Was ist Recht?\"}, {\"from\": \"gpt\", \"value\": \"Eine Ordnung.\"}]}\n" +
			"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}, {\"type\": \"text\", \"text\": \"Beschreibe.\"}]}, {\"role\": \"assistant\", \"content\": null}, {\"role\": \"assistant\", \"content\": \"Ein Baum.\"}]}\n",
			[]Doc{{Text: "Sei kurz.\n\nHallo?\n\nHallo!", Task: "qa"}, {Text: "Was ist Recht?\n\nEine Ordnung."}, {Text: "Beschreibe.\n\nEin Baum."}}},
		{"mixed.jsonl", "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n{\"answer\": \"Paris\", \"context\": \"France's capital is Paris.\", \"question\": \"Capital?\"}\n" +
			"{\"summary\": \"Kurz.\", \"document\": \"Lang und breit.\", \"id\": 7}\n{\"text\": \"Nur dies.\", \"output\": \"nicht dies\"}\n{\"content\": \"def f(): pass\", \"domain\": \"code\"}\n",
			[]Doc{{Text: "2+2=\n\n4"}, {Text: "Capital?\n\nFrance's capital is Paris.\n\nParis"}, {Text: "Lang und breit.\n\nKurz."}, {Text: "Nur dies."}, {Text: "def f(): pass", Domain: "code"}}},
		{"table.csv", "\ufeffQuestion, Answer ,Language\n\"Wie, bitte?\",\"Zeile eins\nZeile zwei\",de\n\nWarum?,Darum.,\n",
			[]Doc{{Text: "Wie, bitte?\n\nZeile eins\nZeile zwei", Language: "de"}, {Text: "Warum?\n\nDarum."}}},
		{"table.tsv", "text\tdomain\nEin \"Zitat\" hier.\tlaw\n",
			[]Doc{{Text: "Ein \"Zitat\" hier.", Domain: "law"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			docs, err := Read(strings.NewReader(c.in), c.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != len(c.want) {
				t.Fatalf("%d documents %+v, want %d", len(docs), docs, len(c.want))
			}
			for i := range docs {
				if docs[i] != c.want[i] {
					t.Errorf("document %d: %+v, want %+v", i+1, docs[i], c.want[i])
				}
			}
		})
	}
}

// TestReadRecordsBad: each damaged or unusable file is one line naming the
// file and where in it.
func TestReadRecordsBad(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"a.json", "[{\"text\": \"a\"}, 3]", "a.json: record 2 of the array: not a JSON object"},
		{"a.json", "[{\"text\": \"a\"}, {\"title\": \"x\"}]", "a.json: record 2 of the array: no text: expected a \"text\" field, chat \"messages\", or fields such as \"instruction\" and \"output\" (this one has fields \"title\")"},
		{"a.json", "[{\"text\": \"a\"}", "a.json: the array does not end"},
		{"a.json", "[{\"text\": \"a\"}] {\"text\": \"b\"}", "a.json: more after the array's end"},
		{"a.json", "[]", "a.json: no documents (the array is empty)"},
		{"a.json", "[{\"text\": \"a\", \"task\": [\"qa\"]}]", "a.json: record 1 of the array: \"task\" is not a string"},
		{"a.csv", "title,body\nx,y\n", "a.csv: no column for the text: expected \"text\", or columns such as \"instruction\" and \"output\" (the header has \"title\", \"body\")"},
		{"a.csv", "text,language\nHallo,de\nWelt\n", "a.csv:3: 1 fields, but the header names 2 columns"},
		{"a.csv", "text,language\n\"Hallo,de\n", "a.csv:2: a quoted field is not closed"},
		{"a.csv", "text,language\n\"Hallo\"x,de\n", "a.csv:2: text after a quoted field's closing quote"},
		{"a.csv", "text,Text\na,b\n", "a.csv:1: column \"Text\" appears twice in the header"},
		{"a.csv", "text\n", "a.csv: no documents (the table has no rows)"},
		{"a.csv", "", "a.csv: no header row"},
		{"a.tsv", "text\tlanguage\n\tde\n", "a.tsv:2: no text"},
		{"a.jsonl", "PAR1\x15\x04", "a.jsonl: a Parquet file is not read; save the dataset as JSONL"},
	} {
		_, err := Read(strings.NewReader(c.in), c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.in, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error spans lines: %q", c.in, err)
		}
	}
}

// FuzzReadRecords: whatever the bytes, the JSON-array, JSONL and CSV
// readers return documents with text or an error of one line.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte("[{\"instruction\": \"a\", \"output\": \"b\"}]"))
	f.Add([]byte("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"x\"}]}]}\n"))
	f.Add([]byte("question,answer\n\"a\nb\",c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		for _, name := range []string{"f.json", "f.csv", "f.tsv"} {
			docs, err := Read(strings.NewReader(string(b)), name)
			if err != nil {
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("%s: error spans lines: %q", name, err)
				}
				continue
			}
			for _, d := range docs {
				if strings.TrimSpace(d.Text) == "" {
					t.Fatalf("%s: accepted an empty document", name)
				}
			}
		}
	})
}

// TestTableMatchesEncodingCSV: the page's own table reader splits what
// Go's encoding/csv writes (an independent implementation of RFC 4180)
// into the same rows, for fields with separators, quotes, line ends and
// spaces, with "\n" and "\r\n" line ends, and for tabs as the separator.
func TestTableMatchesEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Ü", " ", ",", "\t", "\"", "\n", "\r\n", "x y", "中"}
	for n := 0; n < 500; n++ {
		sep := []rune{',', '\t'}[n%2]
		cols := 2 + rng.IntN(3)
		var rows [][]string
		for r := 0; r < 1+rng.IntN(5); r++ {
			row := make([]string, cols)
			for c := range row {
				for k := rng.IntN(6); k > 0; k-- {
					row[c] += alphabet[rng.IntN(len(alphabet))]
				}
			}
			rows = append(rows, row)
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Comma, w.UseCRLF = sep, n%4 >= 2
		w.WriteAll(rows)
		cr := csv.NewReader(bytes.NewReader(buf.Bytes()))
		cr.Comma, cr.FieldsPerRecord = sep, -1
		want, err := cr.ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv cannot read what it wrote: %v", err)
		}
		tb := table{rest: buf.Bytes(), sep: byte(sep), line: 1}
		var got [][]string
		for {
			row, _, err := tb.row()
			if err != nil {
				t.Fatalf("table %d %q: %v", n, buf.String(), err)
			}
			if row == nil {
				break
			}
			got = append(got, row)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("table %d %q:\n got %q\nwant %q", n, buf.String(), got, want)
		}
	}
}
