package prune

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/zip"

	"github.com/cusprun/cusprun/core/export"
	"github.com/cusprun/cusprun/core/gguf"
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/core/tokenizer"
)

// Output says where and how to write the expert.
type Output struct {
	Path   string
	Format string // hf, zip or gguf
	Name   string // general.name of a GGUF
	// Files are the source folder's small files (tokenizer, generation
	// config); config.json is rewritten from the plan.
	Files []export.File
	// VocabMeta writes the tokenizer keys of a GGUF made from an HF source.
	VocabMeta func(*gguf.Writer) error
	// Quant chooses the tensor types (Quants; "" is keep).
	Quant string
}

// matrixDType is the dtype an HF output stores matrices in: the source's,
// except that safetensors has no quantized types: a quantized source is
// written in bf16. (GGUF outputs choose per tensor: ggufDType.)
func matrixDType(src tensor.DType, format string, cols int) tensor.DType {
	if src.Quantized() {
		return tensor.BF16
	}
	return src
}

// vectorDType is the source's dtype for norms and biases in HF outputs and
// F32 in GGUF, as llama.cpp's converter writes them.
func (s *Slicer) vectorDType(format string) tensor.DType {
	if format == "gguf" {
		return tensor.F32
	}
	info, _ := s.M.Store.Lookup(s.M.TensorName(model.RoleAttnNorm, 0))
	if info.DType.Quantized() {
		return tensor.F32
	}
	return info.DType
}

// outDType is the dtype of one output tensor of an HF output; quant is a
// float choice (f32, f16, bf16) or keep.
func (s *Slicer) outDType(shape []int, format, quant string) tensor.DType {
	if len(shape) == 1 {
		return s.vectorDType(format)
	}
	if d, ok := floatQuant[quant]; ok {
		return d
	}
	return matrixDType(s.M.DType, format, shape[1])
}

// Export writes the pruned model atomically at out.Path.
func Export(s *Slicer, out Output) error {
	st, err := ExportStaged(s, out)
	if err != nil {
		return err
	}
	return st.Commit()
}

// ExportStaged writes the pruned model completely into a staging path
// beside out.Path (st.Tmp, which opens like the final output) and leaves it
// there: the caller verifies and evaluates it, then commits, so a job
// killed at any moment leaves nothing at out.Path.
func ExportStaged(s *Slicer, out Output) (*export.Staging, error) {
	switch out.Format {
	case "hf":
		files, infos, data, err := s.hfParts(out)
		if err != nil {
			return nil, err
		}
		return export.StageHFDir(out.Path, files, infos, data)
	case "zip", "gguf":
		return export.StageFile(out.Path, func(w io.Writer) error { return ExportTo(s, out, w) })
	}
	return nil, fmt.Errorf("unknown output format %q (hf, zip or gguf)", out.Format)
}

// ExportTo streams a single-file output (zip or gguf) to w: the browser
// writes it straight to the user's disk.
func ExportTo(s *Slicer, out Output, w io.Writer) error {
	switch out.Format {
	case "zip":
		files, infos, data, err := s.hfParts(out)
		if err != nil {
			return err
		}
		return writeZip(w, files, infos, data)
	case "gguf":
		to, layout, err := s.ggufLayout(out.Quant)
		if err != nil {
			return err
		}
		meta, err := s.ggufMeta(out)
		if err != nil {
			return err
		}
		return export.GGUF(w, to, out.Name, layout, meta, func(t export.GGUFTensor) ([]byte, error) {
			w, err := s.Tensor(t.Spec.Role, t.Spec.Layer)
			if err != nil {
				return nil, err
			}
			return s.encodeFor(t.Info.Name, w, s.sourceDType(t.Spec.Role, t.Spec.Layer), t.Info.DType)
		})
	}
	return fmt.Errorf("format %q is a folder; stream it as zip", out.Format)
}

// ggufMeta writes a GGUF output's keys beyond the architecture's: the
// vocabulary (a GGUF source's tokenizer keys, restricted or not, or
// out.VocabMeta, an HF source's tokenizer), an HF source's chat templates,
// and the file type.
func (s *Slicer) ggufMeta(out Output) (func(*gguf.Writer) error, error) {
	vocab := out.VocabMeta
	g := s.M.GGUF()
	switch {
	case g != nil && s.Plan.KeepVocab == nil:
		vocab = func(w *gguf.Writer) error { return copyTokenizerKeys(g, w) }
	case g != nil && vocab != nil:
		restricted := vocab
		vocab = func(w *gguf.Writer) error {
			if err := copyOtherTokenizerKeys(g, w); err != nil {
				return err
			}
			return restricted(w)
		}
	}
	if vocab == nil {
		return nil, fmt.Errorf("no vocabulary to put in the GGUF: the source has no tokenizer")
	}
	var main string
	var named map[string]string
	if g == nil {
		// A GGUF source's templates are among its tokenizer keys.
		main, named = chatTemplates(s.sourceFiles())
	}
	ftype, known := s.fileType(out.Quant)
	return func(w *gguf.Writer) error {
		if err := vocab(w); err != nil {
			return err
		}
		writeChatTemplates(w, main, named)
		// As llama.cpp's converter and quantizer write them; ollama and LM
		// Studio show the file type as the model's quantization.
		if known {
			w.SetUint32("general.file_type", ftype)
		}
		w.SetUint32("general.quantization_version", 2)
		return nil
	}, nil
}

// fileType is llama.cpp's general.file_type for a GGUF output: the asked
// file type's number, or for keep the source's (its general.file_type, or
// its matrices' float dtype). ok is false for a quantized source that does
// not say (llama.cpp then guesses from the tensors, as it would for it).
func (s *Slicer) fileType(quant string) (n uint32, ok bool) {
	if n, ok := gguf.LlamaFileType(quant); ok {
		return n, true
	}
	d, float := floatQuant[quant]
	if !float { // keep
		if g := s.M.GGUF(); g != nil {
			if n, ok := g.Uint("general.file_type"); ok {
				return uint32(n), true
			}
		}
		d = s.M.DType
	}
	n, ok = map[tensor.DType]uint32{tensor.F32: 0, tensor.F16: 1, tensor.BF16: 32}[d]
	return n, ok
}

// ggufLayout is a GGUF output's config and tensors, each in the type the
// quant choice gives it.
func (s *Slicer) ggufLayout(quant string) (*model.Config, []export.GGUFTensor, error) {
	to, err := export.GGUFConfig(s.Plan.To)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckQuant(orKeep(quant), "gguf"); err != nil {
		return nil, nil, err
	}
	layout := export.GGUFLayout(to, s.M.DType)
	for i := range layout {
		if !layout[i].Extra {
			d, err := s.ggufDType(layout[i], quant)
			if err != nil {
				return nil, nil, err
			}
			layout[i].Info.DType = d
		}
	}
	return to, layout, nil
}

// TensorBytes is the size of an output's tensor data, from the types its
// tensors will have, without writing it: what a preview can say of the
// expert's size before scoring (headers, metadata and the vocabulary come
// on top).
func (s *Slicer) TensorBytes(format, quant string) (int64, error) {
	var infos []tensor.Info
	if format == "gguf" {
		_, layout, err := s.ggufLayout(quant)
		if err != nil {
			return 0, err
		}
		for _, t := range layout {
			infos = append(infos, t.Info)
		}
	} else {
		infos, _ = s.hfTensors(format, orKeep(quant))
	}
	var n int64
	for _, in := range infos {
		n += in.Bytes()
	}
	return n, nil
}

// orKeep reads an unset quant choice as keep.
func orKeep(q string) string {
	if q == "" {
		return "keep"
	}
	return q
}

// hfParts is everything of an HF output: its files, tensors and their data.
func (s *Slicer) hfParts(out Output) ([]export.File, []tensor.Info, export.TensorData, error) {
	to := s.Plan.To
	if to.LayerFFN != nil || to.LayerKVHeads != nil {
		return nil, nil, nil, fmt.Errorf("an adaptive plan has per-layer widths that config.json cannot hold; use --format gguf (deci)")
	}
	cfg, err := s.configJSON(out.Format, out.Quant)
	if err != nil {
		return nil, nil, nil, err
	}
	files := []export.File{{Name: "config.json", Data: cfg}}
	for _, f := range out.Files {
		if f.Name != "config.json" {
			files = append(files, f)
		}
	}
	if err := CheckQuant(orKeep(out.Quant), out.Format); err != nil {
		return nil, nil, nil, err
	}
	infos, data := s.hfTensors(out.Format, out.Quant)
	return files, infos, data, nil
}

// hfTensors lists the output's safetensors and returns their data source.
func (s *Slicer) hfTensors(format, quant string) ([]tensor.Info, export.TensorData) {
	to := s.Plan.To
	specs := to.Specs()
	infos := make([]tensor.Info, len(specs))
	byName := map[string]model.TensorSpec{}
	for i, sp := range specs {
		infos[i] = tensor.Info{Name: to.HFName(sp.Role, sp.Layer), DType: s.outDType(sp.Shape, format, quant), Shape: sp.Shape}
		byName[infos[i].Name] = sp
	}
	return infos, func(in tensor.Info) ([]byte, error) {
		sp := byName[in.Name]
		w, err := s.Tensor(sp.Role, sp.Layer)
		if err != nil {
			return nil, err
		}
		return w.As(in.DType)
	}
}

// configJSON patches the source's config.json (keeping every field the
// user had) or, for a GGUF source, writes one for the family.
func (s *Slicer) configJSON(format, quant string) ([]byte, error) {
	to := s.Plan.To
	dt := map[tensor.DType]string{tensor.F32: "float32", tensor.F16: "float16", tensor.BF16: "bfloat16"}[s.outDType([]int{1, 32}, format, quant)]
	if s.M.Format != "hf" {
		return model.HFConfigJSON(to, dt)
	}
	var cfg map[string]any
	for _, f := range s.sourceFiles() {
		if f.Name == "config.json" {
			if err := json.Unmarshal(f.Data, &cfg); err != nil {
				return nil, fmt.Errorf("config.json: %v", err)
			}
		}
	}
	if cfg == nil {
		return nil, fmt.Errorf("the source has no config.json")
	}
	cfg["intermediate_size"] = to.FFN
	cfg["num_key_value_heads"] = to.KVHeads
	cfg["num_attention_heads"] = to.Heads
	// head_dim only where the source had it or fewer heads make
	// hidden/heads wrong (transformers reads it then), so a uniform export
	// adds no field its family's loader would not know.
	if _, had := cfg["head_dim"]; had || to.Heads*to.HeadDim != to.Hidden {
		cfg["head_dim"] = to.HeadDim
	}
	cfg["vocab_size"] = to.Vocab
	// Said outright: without the key transformers unties every family
	// here, which a tied source's output (no lm_head) cannot survive.
	cfg["tie_word_embeddings"] = to.Tied
	// The dtype the tensors now have (--quant f16 of a bf16 source);
	// transformers 5 names it dtype, earlier versions torch_dtype.
	if _, v5 := cfg["dtype"]; v5 {
		cfg["dtype"] = dt
	} else {
		cfg["torch_dtype"] = dt
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil || s.Plan.vocabMap == nil {
		return b, err
	}
	return s.Plan.vocabMap.RemapConfigIDs(b)
}

// sourceFiles reads the small files of the source folder, if it has one.
func (s *Slicer) sourceFiles() []export.File {
	if s.Source == nil {
		return nil
	}
	return SmallFiles(s.Source)
}

// SmallFiles returns the files of a model folder an export carries over
// unchanged: tokenizer and generation files, never weights.
func SmallFiles(f source.Folder) []export.File {
	var out []export.File
	for _, n := range f.Names() {
		ln := strings.ToLower(n)
		if strings.HasSuffix(ln, ".safetensors") || strings.HasSuffix(ln, ".gguf") || strings.HasSuffix(ln, ".bin") ||
			strings.HasSuffix(ln, ".index.json") || strings.HasSuffix(ln, ".pt") || strings.HasSuffix(ln, ".zip") || strings.HasSuffix(ln, "report.json") {
			continue
		}
		src, err := f.Open(n)
		if err != nil {
			continue
		}
		if b, err := source.ReadAll(src, 64<<20); err == nil {
			out = append(out, export.File{Name: n, Data: b})
		}
	}
	return out
}

// HFTokenizerFiles are the tokenizer.json and tokenizer_config.json of an
// HF or zip export whose source tokenizer is a GGUF vocabulary (a GGUF file
// has no such files to copy, and without them the expert has no
// tokenizer); none for a tokenizer.json source, or when the files already
// have one (SmallFiles copied the source's).
func HFTokenizerFiles(tok *tokenizer.Tokenizer, have []export.File) ([]export.File, error) {
	if tok == nil || !tok.IsGGUF() {
		return nil, nil
	}
	for _, f := range have {
		if f.Name == "tokenizer.json" {
			return nil, nil
		}
	}
	tj, cfg, err := tok.WriteHF()
	if err != nil {
		return nil, fmt.Errorf("the GGUF vocabulary as tokenizer.json: %w", err)
	}
	return []export.File{{Name: "tokenizer.json", Data: tj}, {Name: "tokenizer_config.json", Data: cfg}}, nil
}

// copyTokenizerKeys carries a GGUF source's vocabulary into the output.
func copyTokenizerKeys(g *gguf.File, w *gguf.Writer) error {
	for _, kv := range g.KVs {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			if err := w.Set(kv.Key, kv.Value); err != nil {
				return fmt.Errorf("copying %s: %w", kv.Key, err)
			}
		}
	}
	return nil
}

// writeZip streams the HF folder as one .zip: small files compressed, the
// safetensors stored (so a reader can use the weights in place).
func writeZip(out io.Writer, files []export.File, infos []tensor.Info, data export.TensorData) error {
	zw := zip.NewWriter(out)
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // fixed: same inputs, same bytes
	for _, fl := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fl.Name, Method: zip.Deflate, Modified: mod})
		if err != nil {
			return err
		}
		if _, err := w.Write(fl.Data); err != nil {
			return err
		}
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "model.safetensors", Method: zip.Store, Modified: mod})
	if err != nil {
		return err
	}
	if err := export.WriteSafetensors(w, infos, data, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	return zw.Close()
}
