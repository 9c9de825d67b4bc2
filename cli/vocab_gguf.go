package cli

import (
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// ggufVocab writes a tokenizer.json vocabulary as GGUF tokenizer keys.
var ggufVocab = func(tok *tokenizer.Tokenizer, w *gguf.Writer) error {
	return tok.WriteGGUF(w, 0)
}

// ggufVocabPadded is ggufVocab for a model whose embedding has nVocab rows,
// more than the tokenizer has tokens (Qwen pads to a round size): the token
// list is padded with unused tokens, as llama.cpp's converter does.
func ggufVocabPadded(tok *tokenizer.Tokenizer, nVocab int, w *gguf.Writer) error {
	return tok.WriteGGUF(w, nVocab)
}
