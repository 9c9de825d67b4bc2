package cli

import (
	"fmt"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// ggufVocab writes a tokenizer.json vocabulary as GGUF tokenizer keys.
var ggufVocab = func(tok *tokenizer.Tokenizer, w *gguf.Writer) error {
	return fmt.Errorf("GGUF output from a Hugging Face folder needs its tokenizer converted, which is not available yet: use --format hf or zip")
}
