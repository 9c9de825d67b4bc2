package export

import (
	"fmt"

	"github.com/cusprun/cusprun/core/model"
)

// This file is the one place that knows what each output format can hold
// for each family: llama.cpp's rules for GGUF, and the standard Hugging Face
// config for HF folders. The job asks before it selects units; the GGUF
// writer asks again when it names the architecture.

// Capabilities is what an output of one format holds for one family.
type Capabilities struct {
	// PruneHeads: attention groups may be removed. llama.cpp's phi2 graph
	// needs query heads × head size = hidden size, so a phi GGUF keeps them.
	PruneHeads bool
	// PerLayerWidths: layers may differ in FFN width and heads (adaptive
	// placement). Only GGUF's deci architecture, a llama-family graph, has
	// per-layer arrays; a standard HF config has one width for all layers.
	PerLayerWidths bool
	// WhyNoPerLayerWidths completes "adaptive placement gives per-layer
	// widths, which ..." when PerLayerWidths is false.
	WhyNoPerLayerWidths string
}

// CapabilitiesOf returns what format (hf, zip or gguf) holds for family.
func CapabilitiesOf(family, format string) Capabilities {
	c := Capabilities{PruneHeads: true}
	switch {
	case format != "gguf":
		c.WhyNoPerLayerWidths = "only GGUF (deci) holds: use --format gguf"
	case family != "llama":
		c.WhyNoPerLayerWidths = fmt.Sprintf("GGUF holds only as deci, a llama-family graph; %s loaders have no per-layer widths: use --placement uniform", family)
	default:
		c.PerLayerWidths = true
	}
	if format == "gguf" && family == "phi" {
		c.PruneHeads = false
	}
	return c
}

// GGUFArch is the llama.cpp architecture a config is written as (see
// GGUFConfig for the configs llama.cpp cannot hold as their own family).
func GGUFArch(c *model.Config) string {
	if c.Family == "phi" {
		return "phi2"
	}
	if c.Family == "llama" && (c.LayerFFN != nil || c.LayerKVHeads != nil) {
		return "deci"
	}
	return c.Family
}

// GGUFConfig returns the config as llama.cpp can load it. llama.cpp's qwen2,
// phi3 and phi2 graphs assume query heads times head size equals the
// hidden size, which pruned attention breaks; qwen2 and phi3 are then
// written as the llama architecture, which computes the same function
// (llama plus q/k/v biases is qwen2; phi3 is llama with fused projections,
// and its short rope factors become llama.cpp's rope_freqs, so contexts
// beyond the original length lose the long factors). phi cannot be
// expressed: an error says so (CapabilitiesOf keeps its heads).
func GGUFConfig(c *model.Config) (*model.Config, error) {
	narrow := false
	for l := 0; l < c.Layers; l++ {
		narrow = narrow || c.HeadsAt(l)*c.HeadDim != c.Hidden
	}
	if !narrow || c.Family == "llama" || c.Family == "qwen3" {
		return c, nil
	}
	switch c.Family {
	case "qwen2", "phi3":
		l := *c
		l.Family = "llama"
		if c.Rope.Type == "longrope" {
			l.Rope.Long = nil
		}
		return &l, nil
	}
	return nil, fmt.Errorf("llama.cpp's %s architecture needs heads x head size = hidden size; prune only FFN neurons for a %s GGUF", GGUFArch(c), c.Family)
}
