// Package shaders holds the WGSL compute kernels of the GPU backend, one
// concern per file, each the twin of the CPU kernel of the same name in
// core/ops (matmul.wgsl computes what ops.MatMul computes). The files are
// embedded so the same binary carries them natively, under GOOS=js and in
// tests.
//
// Weight-reading kernels (matmul, embed) call wload(i), the i-th element of
// the weight binding W (@binding(1)) as f32; one of the wload_*.wgsl files
// is prepended to define it for the weight's file dtype (f32, bf16 or f16
// packed two per u32, unpacked in the shader; or the blocks of a quantized
// dtype, Q4_0 to Q6_K, IQ4_NL and IQ4_XS, as bytes, dequantized per element
// exactly as ggml does). No kernel needs shader-f16.
package shaders

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.wgsl
var files embed.FS

// qblock is the byte access the quantized weight loaders share.
//
//go:embed qblock.inc
var qblock string

// Source returns the WGSL text of the named shader ("matmul" for
// matmul.wgsl). It panics for an unknown name: names are constants in the
// code that uses them, and a test compiles every one. The quantized weight
// loaders (wload_q8_0, wload_q4_k, ...) come with qblock.inc's byte helpers
// in front.
func Source(name string) string {
	b, err := files.ReadFile(name + ".wgsl")
	if err != nil {
		panic(fmt.Sprintf("shaders: no shader %q", name))
	}
	if strings.HasPrefix(name, "wload_q") || strings.HasPrefix(name, "wload_iq") {
		return qblock + "\n" + string(b)
	}
	return string(b)
}

// Names lists every embedded shader, without the .wgsl suffix, sorted.
func Names() []string {
	ents, _ := files.ReadDir(".")
	var n []string
	for _, e := range ents {
		n = append(n, strings.TrimSuffix(e.Name(), ".wgsl"))
	}
	sort.Strings(n)
	return n
}

// WeightLoader is the name of the wload snippet for a weight dtype name
// ("F32", "BF16", "F16", or a quantized one: "Q8_0", "Q4_K", ...), or ""
// when the shader cannot read that dtype.
func WeightLoader(dtype string) string {
	name := "wload_" + strings.ToLower(dtype)
	if _, err := files.ReadFile(name + ".wgsl"); err != nil {
		return ""
	}
	return name
}
