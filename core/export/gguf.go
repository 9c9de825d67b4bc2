package export

import (
	"io"
	"math"

	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// GGUFTensor is one tensor of a GGUF output: its GGUF name, dtype and shape,
// and the role it plays (Extra tensors, like rope factors, have Role -1 and
// their values in Values).
type GGUFTensor struct {
	Info   tensor.Info
	Spec   model.TensorSpec
	Extra  bool
	Values []float32
}

// GGUFLayout lists a model's tensors under llama.cpp's names. Matrices keep
// dtype d; vectors (norms, biases) are F32 as llama.cpp's converter writes
// them. Rope scaling that llama.cpp reads from tensors (llama3's per-dimension
// divisors, longrope's short/long factors) is added as extra tensors.
func GGUFLayout(c *model.Config, d tensor.DType) []GGUFTensor {
	var out []GGUFTensor
	for _, s := range c.Specs() {
		dt := d
		if len(s.Shape) == 1 {
			dt = tensor.F32
		}
		name := c.GGUFName(s.Role, s.Layer)
		out = append(out, GGUFTensor{Info: tensor.Info{Name: name, DType: dt, Shape: s.Shape}, Spec: s})
	}
	half := c.Rope.Dim / 2
	vec := func(name string, f []float64) {
		v := make([]float32, half)
		for i := range v {
			v[i] = float32(f[i])
		}
		out = append(out, GGUFTensor{Info: tensor.Info{Name: name, DType: tensor.F32, Shape: []int{half}}, Extra: true, Values: v})
	}
	switch {
	case c.Rope.Type == "llama3":
		vec("rope_freqs.weight", llama3Divisors(c))
	case c.Rope.Type == "longrope" && c.Family == "phi3":
		vec("rope_factors_short.weight", c.Rope.Short)
		long := c.Rope.Long
		if long == nil {
			long = c.Rope.Short
		}
		vec("rope_factors_long.weight", long)
	case c.Rope.Type == "longrope" && c.Rope.Long == nil:
		vec("rope_freqs.weight", c.Rope.Short)
	}
	return out
}

// llama3Divisors turns llama3 rope scaling into the per-dimension divisors
// of the base frequencies that llama.cpp applies (its rope_freqs tensor).
func llama3Divisors(c *model.Config) []float64 {
	r := c.Rope
	half := r.Dim / 2
	out := make([]float64, half)
	for i := range out {
		f := 1 / math.Pow(r.Theta, float64(2*i)/float64(r.Dim))
		wavelen := 2 * math.Pi / f
		lowWave := float64(r.OrigMax) / r.LowFreq
		highWave := float64(r.OrigMax) / r.HighFreq
		switch {
		case wavelen < highWave:
			out[i] = 1
		case wavelen > lowWave:
			out[i] = r.Factor
		default:
			smooth := (float64(r.OrigMax)/wavelen - r.LowFreq) / (r.HighFreq - r.LowFreq)
			out[i] = 1 / ((1-smooth)/r.Factor + smooth)
		}
	}
	return out
}

// ArchMeta sets llama.cpp's architecture keys for c.
func ArchMeta(w *gguf.Writer, c *model.Config, name string) error {
	arch := GGUFArch(c)
	k := func(s string) string { return arch + "." + s }
	w.SetString("general.architecture", arch)
	w.SetString("general.name", name)
	w.SetUint32("general.alignment", 32)
	w.SetUint32(k("context_length"), uint32(c.MaxPos))
	w.SetUint32(k("embedding_length"), uint32(c.Hidden))
	w.SetUint32(k("block_count"), uint32(c.Layers))
	if arch == "deci" {
		ffn, heads, kv := make([]int32, c.Layers), make([]int32, c.Layers), make([]int32, c.Layers)
		for l := range ffn {
			ffn[l], heads[l], kv[l] = int32(c.FFNAt(l)), int32(c.HeadsAt(l)), int32(c.KVHeadsAt(l))
		}
		if err := w.Set(k("feed_forward_length"), ffn); err != nil {
			return err
		}
		if err := w.Set(k("attention.head_count"), heads); err != nil {
			return err
		}
		if err := w.Set(k("attention.head_count_kv"), kv); err != nil {
			return err
		}
	} else {
		w.SetUint32(k("feed_forward_length"), uint32(c.FFN))
		w.SetUint32(k("attention.head_count"), uint32(c.Heads))
		w.SetUint32(k("attention.head_count_kv"), uint32(c.KVHeads))
	}
	w.SetUint32(k("attention.key_length"), uint32(c.HeadDim))
	w.SetUint32(k("attention.value_length"), uint32(c.HeadDim))
	if c.LayerNorm {
		w.SetFloat32(k("attention.layer_norm_epsilon"), c.NormEps)
	} else {
		w.SetFloat32(k("attention.layer_norm_rms_epsilon"), c.NormEps)
	}
	w.SetFloat32(k("rope.freq_base"), float32(c.Rope.Theta))
	w.SetUint32(k("rope.dimension_count"), uint32(c.Rope.Dim))
	w.SetUint32(k("vocab_size"), uint32(c.Vocab))
	switch c.Rope.Type {
	case "linear":
		w.SetString(k("rope.scaling.type"), "linear")
		w.SetFloat32(k("rope.scaling.factor"), float32(c.Rope.Factor))
	case "longrope":
		if c.Family == "phi3" {
			w.SetUint32(k("rope.scaling.original_context_length"), uint32(c.Rope.OrigMax))
		}
	}
	if c.Rope.AttnFactor != 0 {
		w.SetFloat32(k("rope.scaling.attn_factor"), float32(c.Rope.AttnFactor))
	}
	return nil
}

// GGUFData returns a tensor's bytes in Hugging Face row order; WriteGGUF
// applies llama.cpp's Q/K row order itself.
type GGUFData func(t GGUFTensor) ([]byte, error)

// GGUFile writes a GGUF file at final, atomically.
func GGUFile(final string, c *model.Config, name string, layout []GGUFTensor, meta func(*gguf.Writer) error, data GGUFData) error {
	return ToFile(final, func(w io.Writer) error { return GGUF(w, c, name, layout, meta, data) })
}

// GGUF streams a GGUF file to out: the architecture keys, the extra
// metadata (tokenizer keys) that meta sets, then every tensor.
func GGUF(out io.Writer, c *model.Config, name string, layout []GGUFTensor, meta func(*gguf.Writer) error, data GGUFData) error {
	w := gguf.NewWriter(out)
	var err error
	if err := ArchMeta(w, c, name); err != nil {
		return err
	}
	if meta != nil {
		if err := meta(w); err != nil {
			return err
		}
	}
	for _, t := range layout {
		if err := w.AddTensor(t.Info); err != nil {
			return err
		}
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for _, t := range layout {
		var b []byte
		if t.Extra {
			b, err = tensor.Encode(nil, t.Values, tensor.F32)
		} else {
			b, err = data(t)
		}
		if err != nil {
			return err
		}
		if r := t.Spec.Role; c.Family == "llama" && !t.Extra && (r == model.RoleQ || r == model.RoleK || r == model.RoleQB || r == model.RoleKB) {
			// llama.cpp rotates adjacent pairs for llama: reorder each head's rows.
			heads := c.HeadsAt(t.Spec.Layer)
			if r == model.RoleK || r == model.RoleKB {
				heads = c.KVHeadsAt(t.Spec.Layer)
			}
			if r == model.RoleQ || r == model.RoleK {
				w := &model.Weight{Name: t.Info.Name, DType: t.Info.DType, Rows: t.Info.Rows(), Cols: t.Info.Cols(), Raw: b}
				b = model.Permute(w, heads, c.HeadDim).Raw
			} else {
				w := &model.Weight{Name: t.Info.Name, DType: t.Info.DType, Rows: 1, Cols: int(t.Info.Elems()), Raw: b}
				b = model.PermuteVec(w, heads, c.HeadDim).Raw
			}
		}
		if err := w.WriteTensor(t.Info.Name, b); err != nil {
			return err
		}
	}
	return w.Close()
}
