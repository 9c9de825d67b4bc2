package gguf

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cusprun/cusprun/core/tensor"
)

// QuantizeFile writes f to out as file type ftype (q4_k_m, q8_0, ...): every
// tensor llama.cpp's quantizer would quantize is widened to float32 and
// quantized to the type TensorType gives, with the bytes of llama.cpp's
// reference quantizer; the others (norms, vectors) are copied as stored.
// Metadata is copied with general.file_type set as llama.cpp sets it. It
// holds one tensor in memory at a time.
func QuantizeFile(f *File, ftype string, out io.Writer) error {
	ft, ok := LlamaFileType(ftype)
	if !ok {
		return fmt.Errorf("gguf quantize: unknown file type %q (known: %s)", ftype, strings.Join(FileTypeNames(), ", "))
	}
	m := quantModel(f)
	w := NewWriter(out)
	if err := w.SetVersion(f.Version); err != nil {
		return err
	}
	for _, kv := range f.KVs {
		if err := w.SetKV(kv); err != nil {
			return err
		}
	}
	w.SetUint32("general.file_type", ft)
	w.SetUint32("general.quantization_version", 2)
	types := make([]GGMLType, len(f.Tensors))
	for i, t := range f.Tensors {
		typ, quant, err := TensorType(ftype, t.Name, t.Shape, m)
		if err != nil {
			return err
		}
		if !quant || typ == t.Type {
			typ = t.Type
		}
		types[i] = typ
		if err := w.AddTensorType(t.Name, t.Shape, typ); err != nil {
			return err
		}
	}
	if err := w.WriteHeader(); err != nil {
		return err
	}
	for i, t := range f.Tensors {
		data, err := quantizeTensor(t, types[i])
		if err != nil {
			return err
		}
		if err := w.WriteTensor(t.Name, data); err != nil {
			return err
		}
	}
	return w.Close()
}

// quantizeTensor returns t's bytes in type typ.
func quantizeTensor(t Tensor, typ GGMLType) ([]byte, error) {
	if typ == t.Type {
		return t.ReadRaw(0, t.Rows())
	}
	d, ok := typ.DType()
	if !ok || !tensor.CanEncode(d) {
		return nil, fmt.Errorf("gguf quantize: tensor %q: cannot write type %s", t.Name, typ)
	}
	vals := make([]float32, t.Elems())
	if err := t.ReadF32(vals, 0, t.Rows()); err != nil {
		return nil, err
	}
	b, err := tensor.Encode(make([]byte, 0, d.ByteSize(t.Elems())), vals, d)
	if err != nil {
		return nil, fmt.Errorf("gguf quantize: tensor %q: %w", t.Name, err)
	}
	return b, nil
}

// quantModel reads the layer count ("<arch>.block_count", else the blk.N
// names), whether the embedding is tied (no output.weight) and the query
// heads per KV head (head_count / head_count_kv; per-layer arrays give 0).
func quantModel(f *File) QuantModel {
	var m QuantModel
	arch := f.Arch()
	if bc, ok := f.Get(arch + ".block_count"); ok && arch != "" {
		if n, err := strconv.ParseUint(fmt.Sprint(bc.Value), 10, 31); err == nil {
			m.Layers = int(n)
		}
	}
	if m.Layers == 0 {
		for _, t := range f.Tensors {
			if l, ok := layerOf(t.Name); ok {
				m.Layers = max(m.Layers, l+1)
			}
		}
	}
	_, hasOut := f.Tensor("output.weight")
	m.Tied = !hasOut
	heads, _ := f.Uint(arch + ".attention.head_count")
	kv, _ := f.Uint(arch + ".attention.head_count_kv")
	if kv == 0 {
		kv = heads
	}
	if kv > 0 {
		m.GQA = int(heads / kv)
	}
	return m
}
