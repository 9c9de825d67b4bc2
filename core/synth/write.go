package synth

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// roundTo rounds values to what dtype d can hold, so every format of a
// synthetic model carries exactly the same numbers.
func roundTo(v []float32, d tensor.DType) []float32 {
	switch d {
	case tensor.BF16:
		for i := range v {
			v[i] = tensor.BF16ToF32(tensor.F32ToBF16(v[i]))
		}
	case tensor.F16:
		for i := range v {
			v[i] = tensor.F16ToF32(tensor.F32ToF16(v[i]))
		}
	}
	return v
}

// values is tensor spec's values, rounded to the model's dtype.
func values(c *model.Config, seed uint64, s model.TensorSpec, d tensor.DType) []float32 {
	return roundTo(Values(seed, c.HFName(s.Role, s.Layer), s.Role, s.Shape), d)
}

// WriteHF writes a Hugging Face folder at out (atomically): config.json,
// generation_config.json, model.safetensors in dtype d, and the tokenizer
// files found in the folder tokDir, or else the synthetic vocabulary of
// NewVocab as tokenizer.json.
func WriteHF(out string, c *model.Config, seed uint64, d tensor.DType, tokDir string) error {
	dtName := map[tensor.DType]string{tensor.F32: "float32", tensor.F16: "float16", tensor.BF16: "bfloat16"}[d]
	if dtName == "" {
		return fmt.Errorf("synth writes F32, F16 or BF16, not %s", d)
	}
	cfg, err := model.HFConfigJSON(c, dtName)
	if err != nil {
		return err
	}
	gen, _ := json.MarshalIndent(map[string]any{"bos_token_id": c.BOS, "eos_token_id": c.EOS, "do_sample": false}, "", "  ")
	files := []export.File{{Name: "config.json", Data: cfg}, {Name: "generation_config.json", Data: gen}}
	if tokDir != "" {
		tf, err := tokenizerFiles(tokDir)
		if err != nil {
			return err
		}
		files = append(files, tf...)
	} else {
		v, err := NewVocab(c.Vocab)
		if err != nil {
			return err
		}
		tok, cfg, err := v.TokenizerJSON()
		if err != nil {
			return err
		}
		files = append(files, export.File{Name: "tokenizer.json", Data: tok}, export.File{Name: "tokenizer_config.json", Data: cfg})
	}
	specs := c.Specs()
	infos := make([]tensor.Info, len(specs))
	byName := map[string]model.TensorSpec{}
	for i, s := range specs {
		infos[i] = tensor.Info{Name: c.HFName(s.Role, s.Layer), DType: d, Shape: s.Shape}
		byName[infos[i].Name] = s
	}
	return export.HFDir(out, files, infos, func(in tensor.Info) ([]byte, error) {
		return tensor.Encode(nil, values(c, seed, byName[in.Name], d), d)
	})
}

// tokenizerFiles reads the tokenizer files of a folder, if any.
func tokenizerFiles(dir string) ([]export.File, error) {
	if dir == "" {
		return nil, nil
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	var out []export.File
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			out = append(out, export.File{Name: n, Data: b})
		} else if n == "tokenizer.json" {
			return nil, fmt.Errorf("no tokenizer.json in %s", dir)
		}
	}
	return out, nil
}
