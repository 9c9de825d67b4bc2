package cli

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tokenizer"
)

func init() {
	Register("tokenize", "turn text into token ids (or ids back into text with --decode)", runTokenize)
}

func runTokenize(args []string) (any, error) {
	fs := newFlags("tokenize")
	path := fs.String("tokenizer", "", "model folder, tokenizer.json or .gguf file")
	// --model, as every other verb names the model, means the same.
	fs.Var(stringAlias{path}, "model", "the same as --tokenizer")
	text := fs.String("text", "", "text to encode")
	bos := fs.Bool("bos", false, "put the BOS token first")
	special := fs.Bool("special", false, "let special-token text (\"<s>\", \"<|endoftext|>\") become those tokens")
	decode := fs.String("decode", "", "token ids to turn back into text: 1,2,3 (or 1 2 3, or [1,2,3])")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *path == "" {
		return nil, fmt.Errorf("--tokenizer (or --model) is required")
	}
	tok, err := tokenizer.LoadPath(*path)
	if err != nil {
		return nil, err
	}
	if *decode != "" {
		ids, err := parseIDs("--decode", *decode)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				return nil, fmt.Errorf("--decode: id %d is outside the vocabulary (0..%d)", id, tok.VocabSize()-1)
			}
		}
		return map[string]any{"text": tok.Decode(ids)}, nil
	}
	ids := tok.Encode(*text, tokenizer.EncodeOptions{AddBOS: *bos, ParseSpecial: *special})
	if ids == nil {
		ids = []int{}
	}
	return map[string]any{"ids": ids}, nil
}

// stringAlias is a second name for a string flag.
type stringAlias struct{ p *string }

func (a stringAlias) String() string {
	if a.p == nil {
		return ""
	}
	return *a.p
}

func (a stringAlias) Set(v string) error { *a.p = v; return nil }
