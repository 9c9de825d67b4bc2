package model

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tensor"
)

// Store is a model file's tensors, read lazily by rows. The safetensors and
// GGUF readers both provide one (see open.go).
type Store interface {
	Lookup(name string) (tensor.Info, bool)
	// ReadRows returns rows [lo, lo+n) of the tensor viewed as [Rows, Cols].
	ReadRows(name string, lo, n int) ([]byte, error)
}

// Model is an opened model: its architecture and a lazy view of its weights.
// Nothing but headers is read until a layer is asked for.
type Model struct {
	Config *Config
	Format string       // "hf" or "gguf"
	DType  tensor.DType // dtype of the decoder weights
	Store  Store
	// Arch is the GGUF general.architecture ("" for HF folders).
	Arch string

	name func(Role, int) string
	// unpermuteQK undoes llama.cpp's reordering of Q and K rows for the llama
	// architecture (it interleaves each head's two rotary halves).
	unpermuteQK bool
}

// New wraps a store holding a model of this config in the given naming.
func New(c *Config, st Store, format string) (*Model, error) {
	m := &Model{Config: c, Format: format, Store: st}
	switch format {
	case "hf":
		m.name = func(r Role, l int) string { return hfName(c, r, l) }
	case "gguf":
		m.name = func(r Role, l int) string { return ggufName(c, r, l) }
		m.unpermuteQK = c.Family == "llama"
	default:
		return nil, fmt.Errorf("unknown model format %q", format)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// check verifies every expected tensor exists with the expected shape and a
// dtype the engine reads, before any work starts.
func (m *Model) check() error {
	c := m.Config
	first := true
	for _, s := range c.Specs() {
		r, shape := s.Role, s.Shape
		name := m.name(r, s.Layer)
		info, ok := m.Store.Lookup(name)
		if !ok {
			return fmt.Errorf("tensor %s is missing (a %s model of this config needs it)", name, c.Family)
		}
		want := shape
		got := info.Shape
		if len(got) == 2 && len(want) == 1 && got[0] == 1 {
			got = got[1:]
		}
		if !sameShape(got, want) {
			return fmt.Errorf("tensor %s has shape %v, want %v for this config", name, info.Shape, want)
		}
		if blk, _, ok := info.DType.Block(); ok && info.Cols()%blk != 0 {
			return fmt.Errorf("tensor %s: %s rows of %d are not whole blocks of %d", name, info.DType, info.Cols(), blk)
		}
		if s.Layer >= 0 && len(shape) == 2 && first {
			m.DType, first = info.DType, false
		}
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// read loads a whole tensor of a role.
func (m *Model) read(r Role, l int) (*Weight, error) {
	name := m.name(r, l)
	info, ok := m.Store.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing", name)
	}
	return m.readRows(name, info, 0, info.Rows())
}

func (m *Model) readRows(name string, info tensor.Info, lo, n int) (*Weight, error) {
	raw, err := m.Store.ReadRows(name, lo, n)
	if err != nil {
		return nil, err
	}
	return &Weight{Name: name, DType: info.DType, Rows: n, Cols: info.Cols(), Raw: raw}, nil
}

// LoadLayer reads decoder layer l's weights (and only those) from the file:
// the tensors of c.LayerSpecs(l), fused ones split into their parts.
func (m *Model) LoadLayer(l int) (*Layer, error) {
	c := m.Config
	L := &Layer{Index: l, Heads: c.HeadsAt(l), KVHeads: c.KVHeadsAt(l), FFN: c.FFNAt(l)}
	hd := c.HeadDim
	for _, sp := range c.LayerSpecs(l) {
		w, err := m.read(sp.Role, l)
		if err != nil {
			return nil, err
		}
		switch sp.Role {
		case RoleQKV:
			nq, nkv := L.Heads*hd, L.KVHeads*hd
			L.Q, L.K, L.V = w.SliceRows(0, nq), w.SliceRows(nq, nq+nkv), w.SliceRows(nq+nkv, nq+2*nkv)
		case RoleGateUp:
			L.Gate, L.Up = w.SliceRows(0, L.FFN), w.SliceRows(L.FFN, 2*L.FFN)
		default:
			*L.slot(sp.Role) = w
		}
	}
	if m.unpermuteQK {
		L.Q = unpermute(L.Q, L.Heads, hd)
		L.K = unpermute(L.K, L.KVHeads, hd)
		if L.QB != nil {
			L.QB = unpermuteVec(L.QB, L.Heads, hd)
			L.KB = unpermuteVec(L.KB, L.KVHeads, hd)
		}
	}
	return L, nil
}

// unpermute maps llama.cpp's Q/K row order back to Hugging Face's: within a
// head, GGUF row 2i+h holds HF row h*headDim/2 + i.
func unpermute(w *Weight, heads, hd int) *Weight {
	return w.PermuteRows(func(r int) int {
		head, j := r/hd, r%hd
		half, i := j/(hd/2), j%(hd/2)
		return head*hd + 2*i + half
	})
}

// unpermuteVec applies unpermute to a bias vector (one entry per row).
func unpermuteVec(b *Weight, heads, hd int) *Weight {
	col := &Weight{Name: b.Name, DType: b.DType, Rows: b.Cols, Cols: 1, Raw: b.Raw}
	col = unpermute(col, heads, hd)
	return &Weight{Name: b.Name, DType: b.DType, Rows: 1, Cols: b.Cols, Raw: col.Raw}
}

// PermuteVec applies Permute to a bias vector.
func PermuteVec(b *Weight, heads, hd int) *Weight {
	col := &Weight{Name: b.Name, DType: b.DType, Rows: b.Cols, Cols: 1, Raw: b.Raw}
	col = Permute(col, heads, hd)
	return &Weight{Name: b.Name, DType: b.DType, Rows: 1, Cols: b.Cols, Raw: col.Raw}
}

// Permute is the inverse of unpermute, for writers of llama GGUF files:
// HF row h*headDim/2+i goes to GGUF row 2i+h.
func Permute(w *Weight, heads, hd int) *Weight {
	return w.PermuteRows(func(r int) int {
		head, j := r/hd, r%hd
		i, half := j/2, j%2
		return head*hd + half*(hd/2) + i
	})
}

// Embed gathers the embedding rows of ids as float32, reading only those rows.
func (m *Model) Embed(ids []int) ([]float32, error) {
	c := m.Config
	name := m.name(RoleEmbed, -1)
	info, _ := m.Store.Lookup(name)
	out := make([]float32, len(ids)*c.Hidden)
	cache := map[int][]float32{}
	for t, id := range ids {
		if id < 0 || id >= c.Vocab {
			return nil, fmt.Errorf("token id %d is outside the vocabulary (0..%d)", id, c.Vocab-1)
		}
		row, ok := cache[id]
		if !ok {
			w, err := m.readRows(name, info, id, 1)
			if err != nil {
				return nil, err
			}
			row = w.F32()
			cache[id] = row
		}
		copy(out[t*c.Hidden:], row)
	}
	return out, nil
}

// ReadRole reads a whole tensor by role (layer -1 for global tensors) in
// the file's own layout; exporters use it for tensors they copy unchanged.
func (m *Model) ReadRole(r Role, l int) (*Weight, error) { return m.read(r, l) }

// TensorName is a role's tensor name in this model's file.
func (m *Model) TensorName(r Role, l int) string { return m.name(r, l) }
