package synth

import (
	"fmt"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// WriteGGUF writes the same model as WriteHF with the same seed, as a GGUF
// file llama.cpp loads: matrices in dtype d, vectors in F32 (holding the
// same d-rounded values), and a synthetic SentencePiece-style vocabulary.
func WriteGGUF(out string, c *model.Config, seed uint64, d tensor.DType) error {
	return WriteGGUFRounded(out, c, seed, d, d)
}

// WriteGGUFRounded stores matrices in dtype d holding values rounded to
// dtype r: an F32 file with bf16-rounded values carries exactly the numbers
// of the bf16 model, for references that compute in float32 only then.
func WriteGGUFRounded(out string, c *model.Config, seed uint64, d, r tensor.DType) error {
	if c.Vocab < 3+256+1 {
		return fmt.Errorf("a GGUF vocabulary needs at least 260 tokens, the shape has %d", c.Vocab)
	}
	layout := export.GGUFLayout(c, d)
	return export.GGUFile(out, c, "cusprun-synth-"+c.Family, layout, func(w *gguf.Writer) error {
		return VocabMeta(w, c.Vocab)
	}, func(t export.GGUFTensor) ([]byte, error) {
		return tensor.Encode(nil, values(c, seed, t.Spec, r), t.Info.DType)
	})
}

// VocabMeta writes a SentencePiece-style vocabulary of n tokens: <unk>, <s>,
// </s>, the 256 byte tokens, <|endoftext|>, then made-up pieces, so llama.cpp can load a
// model that has no real tokenizer.
func VocabMeta(w *gguf.Writer, n int) error {
	tokens := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	tokens[0], tokens[1], tokens[2] = "<unk>", "<s>", "</s>"
	types[0], types[1], types[2] = 2, 3, 3
	for b := 0; b < 256; b++ {
		tokens[3+b] = fmt.Sprintf("<0x%02X>", b)
		types[3+b] = 6
	}
	// llama.cpp looks up <|endoftext|> by name in a model named phi3.
	tokens[259], types[259] = "<|endoftext|>", 3
	for i := 260; i < n; i++ {
		tokens[i] = fmt.Sprintf("\u2581p%d", i)
		scores[i] = -float32(i)
		types[i] = 1
	}
	w.SetString("tokenizer.ggml.model", "llama")
	if err := w.Set("tokenizer.ggml.tokens", tokens); err != nil {
		return err
	}
	if err := w.Set("tokenizer.ggml.scores", scores); err != nil {
		return err
	}
	if err := w.Set("tokenizer.ggml.token_type", types); err != nil {
		return err
	}
	w.SetUint32("tokenizer.ggml.bos_token_id", 1)
	w.SetUint32("tokenizer.ggml.eos_token_id", 2)
	w.SetUint32("tokenizer.ggml.unknown_token_id", 0)
	return nil
}
