package synth

import (
	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// WriteGGUF writes the same model as WriteHF with the same seed, as a GGUF
// file llama.cpp loads: matrices in dtype d, vectors in F32 (holding the
// same d-rounded values), and the synthetic vocabulary of NewVocab.
func WriteGGUF(out string, c *model.Config, seed uint64, d tensor.DType) error {
	return WriteGGUFRounded(out, c, seed, d, d)
}

// WriteGGUFRounded stores matrices in dtype d holding values rounded to
// dtype r: an F32 file with bf16-rounded values carries exactly the numbers
// of the bf16 model, for references that compute in float32 only then.
func WriteGGUFRounded(out string, c *model.Config, seed uint64, d, r tensor.DType) error {
	layout := export.GGUFLayout(c, d)
	v, err := NewVocab(c.Vocab)
	if err != nil {
		return err
	}
	return export.GGUFile(out, c, "cusprun-synth-"+c.Family, layout, v.GGUF, func(t export.GGUFTensor) ([]byte, error) {
		return tensor.Encode(nil, values(c, seed, t.Spec, r), t.Info.DType)
	})
}
