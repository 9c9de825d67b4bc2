// Package corpus reads documents for calibration and evaluation: the JSONL
// format of DESIGN §4 ({"text", "language", "domain", "task"} per line), and
// the built-in corpora this team wrote, embedded in the binary.
package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// Doc is one document with its tags ("" when a user corpus leaves one out).
type Doc struct {
	Text     string `json:"text"`
	Language string `json:"language,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Task     string `json:"task,omitempty"`
}

// MaxLine bounds one JSONL line: a document is at most a few thousand
// tokens, so anything longer is a mistake (a file without newlines, say).
const MaxLine = 4 << 20

// ReadJSONL reads one record per line (record.go says which fields make
// its text). Blank lines are skipped; anything else that is not such a
// JSON object is an error that names the file and line.
func ReadJSONL(r io.Reader, name string) ([]Doc, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var docs []Doc
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err == errLong {
			return nil, fmt.Errorf("%s:%d: line is longer than %d MiB; each line must be one JSON document", name, line, MaxLine>>20)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		b = bytes.TrimSpace(b)
		if line == 1 {
			b = bytes.TrimPrefix(b, bom) // Windows editors start UTF-8 with one
		}
		if len(b) > 0 {
			if !utf8.Valid(b) {
				return nil, fmt.Errorf("%s:%d: not valid UTF-8 text; save the file as UTF-8", name, line)
			}
			var rec map[string]json.RawMessage
			if jerr := json.Unmarshal(b, &rec); jerr != nil || rec == nil {
				if jerr == nil {
					jerr = fmt.Errorf("null")
				}
				hint := ""
				if b[0] == '{' && !json.Valid(b) {
					hint = " (JSONL holds one whole object per line)"
				}
				return nil, fmt.Errorf("%s:%d: not a JSON object like {\"text\": \"...\"}%s: %v", name, line, hint, jerr)
			}
			d, derr := docOf(rec)
			if derr != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, line, derr)
			}
			docs = append(docs, d)
		}
		if err == io.EOF {
			break
		}
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no documents (expected one JSON object per line with a \"text\" field)", name)
	}
	return docs, nil
}

// readJSONArray reads a JSON array of records, as datasets saved with
// json.dump are (alpaca_data.json, say); errors name the record by its
// position in the array.
func readJSONArray(r io.Reader, name string) ([]Doc, error) {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil { // the '[' the caller saw
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var docs []Doc
	for i := 1; dec.More(); i++ {
		var rec map[string]json.RawMessage
		if err := dec.Decode(&rec); err != nil || rec == nil {
			if err == nil {
				err = fmt.Errorf("null")
			}
			return nil, fmt.Errorf("%s: record %d of the array: not a JSON object like {\"text\": \"...\"}: %v", name, i, err)
		}
		d, err := docOf(rec)
		if err != nil {
			return nil, fmt.Errorf("%s: record %d of the array: %v", name, i, err)
		}
		docs = append(docs, d)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, fmt.Errorf("%s: the array does not end: %v", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: more after the array's end", name)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no documents (the array is empty)", name)
	}
	return docs, nil
}

var errLong = fmt.Errorf("line too long")

// bom is the UTF-8 byte order mark.
var bom = []byte{0xef, 0xbb, 0xbf}

// readLine reads up to a newline, refusing lines over MaxLine without
// holding them.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(out)+len(chunk) > MaxLine {
			// Drain the rest of the line so memory stays bounded, then fail.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			return nil, errLong
		}
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return out, err
	}
}

// ReadFile reads a corpus file (see Read), or every corpus file of a
// folder: those whose names end in an extension Read knows (.gz of them
// too), in name order, hidden files and subfolders left out.
func ReadFile(path string) ([]Doc, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return readFolder(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path)
}

// corpusExts are the extensions a folder's corpus files have.
var corpusExts = []string{".jsonl", ".json", ".csv", ".tsv", ".txt", ".md", ".text"}

func readFolder(dir string) ([]Doc, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var docs []Doc
	read := 0
	for _, e := range ents { // os.ReadDir sorts by name
		name := strings.TrimSuffix(strings.ToLower(e.Name()), ".gz")
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() || !slices.Contains(corpusExts, filepath.Ext(name)) {
			continue
		}
		d, err := ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
		read++
	}
	if read == 0 {
		return nil, fmt.Errorf("%s: a folder with no corpus files (%s, or those gzip compressed)", dir, strings.Join(corpusExts, ", "))
	}
	return docs, nil
}

// MaxText bounds a corpus file's text (after decompression).
const MaxText = 256 << 20

// Read reads a corpus named name, by its extension (any case):
//   - .jsonl or .json: one JSON record per line, or one JSON array of
//     records (told by its first character);
//   - .csv or .tsv: a table with a header row (ReadCSV);
//   - anything else: plain text, one document per blank-line-separated
//     block (ReadText).
//
// record.go says which fields of a record make its text. A gzip stream
// (told by its first bytes) is decompressed first, and the name's .gz
// suffix dropped to choose the format.
func Read(r io.Reader, name string) ([]Doc, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	inner := strings.ToLower(name)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable gzip file: %v", name, err)
		}
		defer z.Close()
		src, inner = z, strings.TrimSuffix(strings.TrimSuffix(inner, ".gz"), ".gzip")
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// A zstd decoder would add half a megabyte to the page.
		return nil, fmt.Errorf("%s: a zstd-compressed corpus is not read; decompress it, or compress it with gzip", name)
	case bytes.Equal(magic, []byte("PAR1")):
		return nil, fmt.Errorf("%s: a Parquet file is not read; save the dataset as JSONL (with datasets: ds.to_json(\"corpus.jsonl\"))", name)
	}
	src = &boundedText{r: src}
	switch {
	case strings.HasSuffix(inner, ".jsonl") || strings.HasSuffix(inner, ".json"):
		tb := bufio.NewReaderSize(src, 64<<10)
		if firstChar(tb) == '[' {
			if b, _ := tb.Peek(3); bytes.Equal(b, bom) {
				tb.Discard(3)
			}
			return readJSONArray(tb, name)
		}
		return ReadJSONL(tb, name)
	case strings.HasSuffix(inner, ".csv"):
		return ReadCSV(src, name, ',')
	case strings.HasSuffix(inner, ".tsv"):
		return ReadCSV(src, name, '\t')
	}
	return ReadText(src, name)
}

// firstChar returns the first byte of the first 4 KiB that is not white
// space or a byte order mark, without consuming anything (0 if none).
func firstChar(br *bufio.Reader) byte {
	b, _ := br.Peek(4096)
	b = bytes.TrimLeft(bytes.TrimPrefix(b, bom), " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// boundedText says a read error comes from a damaged (compressed) file,
// and refuses text past MaxText.
type boundedText struct {
	r io.Reader
	n int64
}

func (c *boundedText) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > MaxText {
		return n, fmt.Errorf("more than %d MiB of text", MaxText>>20)
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("damaged: %v", err)
	}
	return n, err
}

// ReadText splits plain text into documents at blank lines, joining short
// paragraphs so that each document has at least about 600 bytes.
func ReadText(r io.Reader, name string) ([]Doc, error) {
	b, err := readAllText(r, name)
	if err != nil {
		return nil, err
	}
	var docs []Doc
	var cur []byte
	for _, p := range bytes.Split(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		p = bytes.TrimSpace(p)
		if len(p) == 0 {
			continue
		}
		if len(cur) > 0 {
			cur = append(cur, '\n', '\n')
		}
		cur = append(cur, p...)
		if len(cur) >= 600 {
			docs = append(docs, Doc{Text: string(cur)})
			cur = nil
		}
	}
	if len(cur) > 0 {
		docs = append(docs, Doc{Text: string(cur)})
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no text", name)
	}
	return docs, nil
}

// readAllText reads a whole text file of at most MaxText bytes, without
// its byte order mark, and refuses one that is not UTF-8.
func readAllText(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxText+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(b) > MaxText {
		return nil, fmt.Errorf("%s: more than %d MiB of text", name, MaxText>>20)
	}
	b = bytes.TrimPrefix(b, bom)
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%s: not valid UTF-8 text; save the file as UTF-8", name)
	}
	return b, nil
}
