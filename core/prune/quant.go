package prune

import (
	"fmt"
	"strings"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/tensor"
)

// Quants are the choices of an output's tensor types: keep (the source's
// own types), a float dtype for every matrix, or a llama.cpp file type whose
// per-tensor types follow llama-quantize (gguf.TensorType).
var Quants = []string{"keep", "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "iq4_xs", "iq4_nl"}

// CheckQuant refuses a quant choice the format cannot hold: safetensors
// (hf, zip) has no quantized types.
func CheckQuant(quant, format string) error {
	ok := false
	for _, q := range Quants {
		ok = ok || q == quant
	}
	if !ok {
		return fmt.Errorf("unknown quant %q (%s)", quant, strings.Join(Quants, ", "))
	}
	if format != "gguf" && quant != "keep" && quant != "f32" && quant != "f16" && quant != "bf16" {
		return fmt.Errorf("quant %s needs --format gguf (safetensors holds f32, f16 or bf16)", quant)
	}
	return nil
}

// floatQuant maps the float choices to their dtype.
var floatQuant = map[string]tensor.DType{"f32": tensor.F32, "f16": tensor.F16, "bf16": tensor.BF16}

// sourceDType is the dtype the source stores a role's tensor in.
func (s *Slicer) sourceDType(r model.Role, l int) tensor.DType {
	if info, ok := s.M.Store.Lookup(s.M.TensorName(r, l)); ok {
		return info.DType
	}
	return s.M.DType
}

// ggufDType is the dtype of one matrix of a GGUF output under a quant
// choice. keep gives the source tensor's own type; where a pruned row is no
// longer whole blocks of it, llama.cpp's fallback (Q4_K to Q5_0, ...)
// applies.
func (s *Slicer) ggufDType(t export.GGUFTensor, quant string) (tensor.DType, error) {
	shape := t.Info.Shape
	if len(shape) == 1 {
		return tensor.F32, nil
	}
	cols := int64(shape[len(shape)-1])
	if d, ok := floatQuant[quant]; ok {
		return d, nil
	}
	var g gguf.GGMLType
	if quant == "" || quant == "keep" {
		src := s.sourceDType(t.Spec.Role, t.Spec.Layer)
		if !src.Quantized() {
			return src, nil
		}
		g, _ = gguf.TypeOf(src)
	} else {
		to := s.Plan.To
		var quantize bool
		var err error
		g, quantize, err = gguf.TensorType(quant, t.Info.Name, shape, gguf.QuantModel{Layers: to.Layers, Tied: to.Tied, GQA: to.HeadsAt(0) / to.KVHeadsAt(0)})
		if err != nil {
			return 0, err
		}
		if !quantize {
			return tensor.F32, nil
		}
	}
	d, ok := gguf.FallbackType(g, cols).DType()
	if !ok {
		return 0, fmt.Errorf("tensor %s: no dtype for GGML type %s", t.Info.Name, g)
	}
	return d, nil
}

// Tensor actions recorded per output tensor (Slicer.Actions).
const (
	ActionCopied      = "copied"      // the source's quant blocks, kept rows verbatim
	ActionRequantized = "requantized" // widened (columns cut, or another type) and quantized again
	ActionQuantized   = "quantized"   // a float source quantized
	ActionDequantized = "dequantized" // a quantized source written as floats (rows no longer whole blocks, or a float quant)
	ActionConverted   = "converted"   // float to float
	ActionAsStored    = "as stored"   // the source's float values unchanged
)

// encodeFor returns a slicer weight's bytes in dtype d and records what was
// done to it under its output name.
func (s *Slicer) encodeFor(name string, w *model.Weight, src, d tensor.DType) ([]byte, error) {
	var act string
	switch {
	case w.DType == d && d.Quantized() && src == d:
		act = ActionCopied
	case d.Quantized() && src.Quantized():
		act = ActionRequantized
	case d.Quantized():
		act = ActionQuantized
	case src.Quantized():
		act = ActionDequantized
	case w.DType == d:
		act = ActionAsStored
	default:
		act = ActionConverted
	}
	b, err := w.As(d)
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	if s.Actions == nil {
		s.Actions = map[string]string{}
	}
	s.Actions[name] = act + " " + d.String()
	return b, nil
}

// QuantBlockRows is the row length every quantized GGUF type divides: a
// pruned FFN width that is a multiple of it keeps ffn_down quantized (Q4_K
// and the other K-quants fall back to a 32-value type, as llama.cpp does)
// instead of falling back to F16.
const QuantBlockRows = 32

// QuantizedOutput reports whether a quant choice writes quantized matrices
// for a source of dtype src.
func QuantizedOutput(quant string, src tensor.DType) bool {
	if quant == "" || quant == "keep" {
		return src.Quantized()
	}
	_, float := floatQuant[quant]
	return !float
}

// AlignFFN re-selects every layer's kept FFN neurons so that their number
// is the nearest multiple of mult (at least mult; layers narrower than mult
// are left alone), keeping the highest-scored as Select does. The ratio
// actually removed moves by less than mult/2 neurons a layer.
func AlignFFN(p *Plan, sc UnitScores, mult int) *Plan {
	q := *p
	q.KeepFFN = make([][]int, len(p.KeepFFN))
	for l, keep := range p.KeepFFN {
		width := p.From.FFNAt(l)
		n := len(keep)
		if width < mult || n%mult == 0 {
			q.KeepFFN[l] = keep
			continue
		}
		n = min(max(mult, (n+mult/2)/mult*mult), width/mult*mult)
		q.KeepFFN[l] = keepHighest(sc.FFN[l], sc.FFNTie[l], width-n, l, false)
	}
	q.To = q.config()
	return &q
}
