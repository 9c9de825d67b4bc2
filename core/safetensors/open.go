package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cusprun/cusprun/core/source"
)

// Standard file names in a Hugging Face folder.
const (
	SingleName = "model.safetensors"
	IndexName  = "model.safetensors.index.json"
)

// maxIndex bounds the size of an index.json file.
const maxIndex = 64 << 20

// Model is every tensor of a Hugging Face model, single file or sharded.
type Model struct {
	Tensors  map[string]Tensor
	Metadata map[string]string // __metadata__ of the (first) file
	Files    []*File           // parsed files, in the order they were read
}

// Names lists the tensor names, sorted.
func (m *Model) Names() []string {
	n := make([]string, 0, len(m.Tensors))
	for k := range m.Tensors {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Open reads the safetensors header(s) of a model folder: model.safetensors
// when present, else the shards listed in model.safetensors.index.json, else
// the only *.safetensors file of the folder (a single file opened directly).
func Open(f source.Folder) (*Model, error) {
	names := f.Names()
	has := map[string]bool{}
	var st []string
	for _, n := range names {
		has[n] = true
		if strings.HasSuffix(n, ".safetensors") {
			st = append(st, n)
		}
	}
	switch {
	case has[SingleName]:
		return openSingle(f, SingleName)
	case has[IndexName]:
		return openIndex(f)
	case len(st) == 1:
		return openSingle(f, st[0])
	case len(st) > 1:
		return nil, fmt.Errorf("model folder has %d .safetensors files (%s, ...) but no %s", len(st), st[0], IndexName)
	}
	for _, n := range names {
		if ext := strings.ToLower(filepath.Ext(n)); ext == ".bin" || ext == ".pt" || ext == ".pth" || ext == ".ckpt" {
			return nil, fmt.Errorf("model folder has %s, PyTorch's pickle format, which is not read (it can run code when loaded); it needs the weights as safetensors: convert them (transformers: model.save_pretrained(dir, safe_serialization=True))", n)
		}
	}
	return nil, fmt.Errorf("model folder has no %s and no %s", SingleName, IndexName)
}

func openSingle(f source.Folder, name string) (*Model, error) {
	src, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	pf, err := Parse(src)
	if err != nil {
		return nil, err
	}
	m := &Model{Tensors: make(map[string]Tensor, len(pf.Tensors)), Metadata: pf.Metadata, Files: []*File{pf}}
	for _, t := range pf.Tensors {
		m.Tensors[t.Name] = t
	}
	return m, nil
}

// Index is the content of model.safetensors.index.json.
type Index struct {
	Metadata  map[string]any    `json:"metadata,omitempty"`
	WeightMap map[string]string `json:"weight_map"`
}

// ParseIndex reads an index.json file.
func ParseIndex(b []byte) (*Index, error) {
	var ix Index
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", oneLine(err))
	}
	if ix.WeightMap == nil {
		return nil, fmt.Errorf("no weight_map")
	}
	return &ix, nil
}

func openIndex(f source.Folder) (*Model, error) {
	src, err := f.Open(IndexName)
	if err != nil {
		return nil, err
	}
	b, err := source.ReadAll(src, maxIndex)
	if err != nil {
		return nil, err
	}
	ix, err := ParseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IndexName, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: weight_map is empty", IndexName)
	}
	tensorNames := make([]string, 0, len(ix.WeightMap))
	shardSet := map[string]bool{}
	for t, s := range ix.WeightMap {
		tensorNames = append(tensorNames, t)
		shardSet[s] = true
	}
	sort.Strings(tensorNames)
	shards := make([]string, 0, len(shardSet))
	for s := range shardSet {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	m := &Model{Tensors: make(map[string]Tensor, len(ix.WeightMap))}
	parsed := map[string]*File{}
	for _, s := range shards {
		if s == "" || strings.ContainsAny(s, `/\`) || s == "." || s == ".." {
			return nil, fmt.Errorf("%s: shard %q is not a plain file name inside the model folder", IndexName, s)
		}
		src, err := f.Open(s)
		if err != nil {
			return nil, fmt.Errorf("%s: shard %q: %s", IndexName, s, oneLine(err))
		}
		pf, err := Parse(src)
		if err != nil {
			return nil, err
		}
		parsed[s] = pf
		m.Files = append(m.Files, pf)
		if m.Metadata == nil {
			m.Metadata = pf.Metadata
		}
	}
	for _, tn := range tensorNames {
		s := ix.WeightMap[tn]
		t, ok := parsed[s].Tensor(tn)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q is listed in shard %s, which does not hold it", IndexName, tn, s)
		}
		m.Tensors[tn] = t
	}
	return m, nil
}
