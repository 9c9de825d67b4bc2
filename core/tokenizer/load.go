package tokenizer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/source"
)

// Largest tokenizer.json / tokenizer_config.json accepted.
const maxJSON = 256 << 20

// Load finds the tokenizer of a model folder: tokenizer.json (with
// tokenizer_config.json when present) or, failing that, the vocabulary
// embedded in the folder's GGUF file.
func Load(f source.Folder) (*Tokenizer, error) {
	names := f.Names()
	has := func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
	if has("tokenizer.json") {
		src, err := f.Open("tokenizer.json")
		if err != nil {
			return nil, err
		}
		data, err := source.ReadAll(src, maxJSON)
		if err != nil {
			return nil, err
		}
		var cfg []byte
		if has("tokenizer_config.json") {
			if c, err := f.Open("tokenizer_config.json"); err == nil {
				if cfg, err = source.ReadAll(c, maxJSON); err != nil {
					return nil, err
				}
			}
		}
		t, err := ParseTokenizerJSON(data, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Name(), err)
		}
		t.name = src.Name()
		return t, nil
	}
	var ggufs []string
	for _, n := range names {
		if strings.HasSuffix(strings.ToLower(n), ".gguf") {
			ggufs = append(ggufs, n)
		}
	}
	if len(ggufs) == 1 {
		src, err := f.Open(ggufs[0])
		if err != nil {
			return nil, err
		}
		return LoadGGUF(src)
	}
	if len(ggufs) > 1 {
		return nil, fmt.Errorf("no tokenizer.json, and %d GGUF files (%s): name one", len(ggufs), strings.Join(ggufs, ", "))
	}
	for _, n := range []string{"tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json"} {
		if has(n) {
			// A slow tokenizer's files: transformers writes the fast one
			// (tokenizer.json) from them.
			return nil, fmt.Errorf("no tokenizer.json, only %s, which cusprun does not read: write tokenizer.json with transformers (AutoTokenizer.from_pretrained(folder).save_pretrained(folder))", n)
		}
	}
	return nil, fmt.Errorf("no tokenizer found: neither tokenizer.json nor a .gguf file")
}

// LoadGGUF reads the vocabulary embedded in a GGUF file.
func LoadGGUF(src source.Source) (*Tokenizer, error) {
	m, err := gguf.Parse(src)
	if err != nil {
		return nil, err
	}
	t, err := FromGGUF(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Name(), err)
	}
	t.name = src.Name()
	return t, nil
}

// LoadPath loads a tokenizer from a model folder, a zipped one, a
// tokenizer.json file (its folder's tokenizer_config.json is used when
// present) or a .gguf file.
func LoadPath(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open tokenizer: %w", err)
	}
	if st.IsDir() {
		f, err := source.OpenPath(path)
		if err != nil {
			return nil, err
		}
		if d, ok := f.(*source.Dir); ok {
			defer d.Close()
		}
		return Load(f)
	}
	src, err := source.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	head := make([]byte, 4)
	n, _ := src.ReadAt(head, 0)
	if string(head[:n]) == "GGUF" {
		return LoadGGUF(src)
	}
	if string(head[:n]) == "PK\x03\x04" {
		// a zipped model folder (prune --format zip)
		f, err := source.OpenPath(path)
		if err != nil {
			return nil, err
		}
		if c, ok := f.(io.Closer); ok {
			defer c.Close()
		}
		return Load(f)
	}
	data, err := source.ReadAll(src, maxJSON)
	if err != nil {
		return nil, err
	}
	var cfg []byte
	if c, err := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json")); err == nil && filepath.Base(path) == "tokenizer.json" {
		cfg = c
	}
	t, err := ParseTokenizerJSON(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.name = path
	return t, nil
}
