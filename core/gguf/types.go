package gguf

import (
	"fmt"

	"github.com/cusprun/cusprun/core/tensor"
)

// GGMLType is a tensor's element type as GGUF numbers it.
type GGMLType uint32

// The types this package reads and writes. Others are known by name and
// size only (see Block).
const (
	TypeF32    GGMLType = 0
	TypeF16    GGMLType = 1
	TypeQ4_0   GGMLType = 2
	TypeQ4_1   GGMLType = 3
	TypeQ5_0   GGMLType = 6
	TypeQ5_1   GGMLType = 7
	TypeQ8_0   GGMLType = 8
	TypeQ2_K   GGMLType = 10
	TypeQ3_K   GGMLType = 11
	TypeQ4_K   GGMLType = 12
	TypeQ5_K   GGMLType = 13
	TypeQ6_K   GGMLType = 14
	TypeIQ4_NL GGMLType = 20
	TypeIQ4_XS GGMLType = 23
	TypeBF16   GGMLType = 30
)

// readable pairs each GGML type cusprun reads with its tensor dtype.
var readable = []struct {
	g GGMLType
	d tensor.DType
}{
	{TypeF32, tensor.F32}, {TypeF16, tensor.F16}, {TypeBF16, tensor.BF16},
	{TypeQ4_0, tensor.Q4_0}, {TypeQ4_1, tensor.Q4_1}, {TypeQ5_0, tensor.Q5_0},
	{TypeQ5_1, tensor.Q5_1}, {TypeQ8_0, tensor.Q8_0}, {TypeQ2_K, tensor.Q2_K},
	{TypeQ3_K, tensor.Q3_K}, {TypeQ4_K, tensor.Q4_K}, {TypeQ5_K, tensor.Q5_K},
	{TypeQ6_K, tensor.Q6_K}, {TypeIQ4_NL, tensor.IQ4_NL}, {TypeIQ4_XS, tensor.IQ4_XS},
}

// ggmlTypes gives, per GGML type number, its name, block length in elements
// and block size in bytes (from ggml's type traits; numbers 4, 5, 31-33 and
// 36-38 were retired and are unknown).
var ggmlTypes = map[GGMLType]struct {
	name        string
	blk, nbytes int64
}{
	0: {"F32", 1, 4}, 1: {"F16", 1, 2}, 2: {"Q4_0", 32, 18}, 3: {"Q4_1", 32, 20},
	6: {"Q5_0", 32, 22}, 7: {"Q5_1", 32, 24}, 8: {"Q8_0", 32, 34}, 9: {"Q8_1", 32, 36},
	10: {"Q2_K", 256, 84}, 11: {"Q3_K", 256, 110}, 12: {"Q4_K", 256, 144},
	13: {"Q5_K", 256, 176}, 14: {"Q6_K", 256, 210}, 15: {"Q8_K", 256, 292},
	16: {"IQ2_XXS", 256, 66}, 17: {"IQ2_XS", 256, 74}, 18: {"IQ3_XXS", 256, 98},
	19: {"IQ1_S", 256, 50}, 20: {"IQ4_NL", 32, 18}, 21: {"IQ3_S", 256, 110},
	22: {"IQ2_S", 256, 82}, 23: {"IQ4_XS", 256, 136}, 24: {"I8", 1, 1},
	25: {"I16", 1, 2}, 26: {"I32", 1, 4}, 27: {"I64", 1, 8}, 28: {"F64", 1, 8},
	29: {"IQ1_M", 256, 56}, 30: {"BF16", 1, 2}, 34: {"TQ1_0", 256, 54},
	35: {"TQ2_0", 256, 66}, 39: {"MXFP4", 32, 17}, 40: {"NVFP4", 64, 36},
	41: {"Q1_0", 128, 18}, 42: {"Q2_0", 64, 18},
}

func (t GGMLType) String() string {
	if g, ok := ggmlTypes[t]; ok {
		return g.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// Block returns the number of elements in one block of t and the block's
// size in bytes; ok is false for a type number GGML does not define.
func (t GGMLType) Block() (elems, bytes int64, ok bool) {
	g, ok := ggmlTypes[t]
	return g.blk, g.nbytes, ok
}

// DType maps the readable GGML types to tensor dtypes.
func (t GGMLType) DType() (tensor.DType, bool) {
	for _, r := range readable {
		if r.g == t {
			return r.d, true
		}
	}
	return -1, false
}

// TypeOf maps a tensor dtype to its GGML type.
func TypeOf(d tensor.DType) (GGMLType, bool) {
	for _, r := range readable {
		if r.d == d {
			return r.g, true
		}
	}
	return 0, false
}
