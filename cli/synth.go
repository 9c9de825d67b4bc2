package cli

import (
	"fmt"

	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
)

func init() {
	Register("synth", "write a model with a family's exact structure and deterministic random weights", runSynth)
}

func runSynth(args []string) (any, error) {
	fs := newFlags("synth")
	var o synth.Options
	fs.StringVar(&o.Family, "family", "llama", "llama, qwen2, qwen3, phi3 or phi")
	fs.StringVar(&o.Shape, "shape", "tiny", "model size: "+fmt.Sprint(synth.ShapeNames()))
	fs.StringVar(&o.Rope, "rope", "", "rope scaling: default, linear, llama3, longrope")
	fs.Float64Var(&o.Partial, "partial-rotary", 0, "partial rotary factor (0: the family's default)")
	fs.IntVar(&o.Layers, "layers", 0, "override the shape's layer count (0: the shape's)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	out := fs.String("out", "", "output folder (hf) or file (gguf)")
	dt := fs.String("dtype", "bf16", "bf16, f16 or f32")
	format := fs.String("format", "hf", "hf or gguf")
	tok := fs.String("tokenizer", "", "folder or tokenizer.json to copy into an hf output")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *out == "" {
		return nil, fmt.Errorf("--out is required")
	}
	if o.Layers < 0 {
		return nil, fmt.Errorf("--layers %d: give a layer count, or 0 for the shape's", o.Layers)
	}
	if err := formatOfOut(fs, format, *out); err != nil {
		return nil, err
	}
	d, err := tensor.ParseDType(*dt)
	if err != nil {
		return nil, err
	}
	c, err := synth.Config(o)
	if err != nil {
		return nil, err
	}
	switch *format {
	case "hf":
		err = synth.WriteHF(*out, c, o.Seed, d, *tok)
	case "gguf":
		err = synth.WriteGGUF(*out, c, o.Seed, d)
	default:
		err = fmt.Errorf("unknown format %q (hf or gguf)", *format)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"out": *out, "family": c.Family, "shape": o.Shape, "format": *format, "dtype": d.String(),
		"layers": c.Layers, "hidden": c.Hidden, "vocab": c.Vocab}, nil
}
