package model

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cusprun/cusprun/core/safetensors"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// Open reads a model's headers from a folder: a Hugging Face folder
// (config.json and safetensors) or a folder holding one .gguf file.
func Open(f source.Folder) (*Model, error) {
	var ggufs []string
	hasConfig := false
	for _, n := range f.Names() {
		if strings.HasSuffix(strings.ToLower(n), ".gguf") {
			ggufs = append(ggufs, n)
		}
		hasConfig = hasConfig || n == "config.json"
	}
	switch {
	case hasConfig:
		return openHF(f)
	case len(ggufs) == 1:
		return openGGUF(f, ggufs[0])
	case len(ggufs) > 1:
		return nil, fmt.Errorf("the folder holds %d .gguf files; give one file", len(ggufs))
	}
	return nil, fmt.Errorf("no model found: expected config.json with safetensors, or a .gguf file")
}

// OpenPath opens a model folder or a single .gguf file on disk.
func OpenPath(path string) (*Model, error) {
	f, err := source.OpenPath(path)
	if err != nil {
		return nil, err
	}
	return Open(f)
}

func openHF(f source.Folder) (*Model, error) {
	cf, err := f.Open("config.json")
	if err != nil {
		return nil, err
	}
	data, err := source.ReadAll(cf, 16<<20)
	if err != nil {
		return nil, err
	}
	c, err := ParseHFConfig(data)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.Open(f)
	if err != nil {
		return nil, err
	}
	if !tiedGiven(data) {
		// Every family here defaults tie_word_embeddings to false in
		// transformers, yet configs without the key come with and without
		// an lm_head; the files say which: no lm_head means the embedding
		// is the output matrix.
		_, hasHead := st.Tensors[hfName(c, RoleLMHead, -1)]
		c.Tied = !hasHead
	}
	return New(c, stStore{st}, "hf")
}

// tiedGiven says whether config.json sets tie_word_embeddings at all.
func tiedGiven(config []byte) bool {
	var h struct {
		Tied *bool `json:"tie_word_embeddings"`
	}
	return json.Unmarshal(config, &h) == nil && h.Tied != nil
}

// stStore adapts a safetensors model to Store.
type stStore struct{ m *safetensors.Model }

func (s stStore) Lookup(name string) (tensor.Info, bool) {
	t, ok := s.m.Tensors[name]
	return t.Info, ok
}

func (s stStore) ReadRows(name string, lo, n int) ([]byte, error) {
	t, ok := s.m.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	return t.ReadRaw(lo, n)
}
