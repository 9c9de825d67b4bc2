package cli

import (
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// GGUFVocab writes a tokenizer.json vocabulary as GGUF tokenizer keys for a
// model with nVocab embedding rows, as prune does for a GGUF made from a
// Hugging Face folder (the browser app exports the same way).
func GGUFVocab(tok *tokenizer.Tokenizer, nVocab int, w *gguf.Writer) error {
	return ggufVocabPadded(tok, nVocab, w)
}
