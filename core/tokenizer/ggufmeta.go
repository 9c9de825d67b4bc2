package tokenizer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/cusprun/cusprun/core/source"
)

// GGUFMeta is what the tokenizer needs from a GGUF file's metadata. core/gguf
// can satisfy it; ReadGGUFMeta is a small reader of just the metadata section.
type GGUFMeta interface {
	// String is a string value.
	String(key string) (string, bool)
	// Strings is an array of strings.
	Strings(key string) ([]string, bool)
	// Float32s is an array of numbers, as float32.
	Float32s(key string) ([]float32, bool)
	// Int32s is an array of integers, as int32.
	Int32s(key string) ([]int32, bool)
	// Int is an integer scalar of any width.
	Int(key string) (int64, bool)
	// Bool is a boolean scalar.
	Bool(key string) (bool, bool)
}

// ggufKV holds decoded metadata values.
type ggufKV map[string]any

func (m ggufKV) String(k string) (string, bool) { v, ok := m[k].(string); return v, ok }
func (m ggufKV) Strings(k string) ([]string, bool) {
	v, ok := m[k].([]string)
	return v, ok
}
func (m ggufKV) Float32s(k string) ([]float32, bool) {
	switch v := m[k].(type) {
	case []float32:
		return v, true
	case []float64:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out, true
	case []int64:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out, true
	}
	return nil, false
}
func (m ggufKV) Int32s(k string) ([]int32, bool) {
	v, ok := m[k].([]int64)
	if !ok {
		return nil, false
	}
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out, true
}
func (m ggufKV) Int(k string) (int64, bool) { v, ok := m[k].(int64); return v, ok }
func (m ggufKV) Bool(k string) (bool, bool) { v, ok := m[k].(bool); return v, ok }

// GGUF value types.
const (
	gU8 = iota
	gI8
	gU16
	gI16
	gU32
	gI32
	gF32
	gBool
	gString
	gArray
	gU64
	gI64
	gF64
)

type ggufReader struct {
	r   *bufio.Reader
	err error
	// left is how many bytes may still be read (the file's size).
	left int64
}

func (g *ggufReader) bytes(n int64) []byte {
	if g.err != nil {
		return nil
	}
	if n < 0 || n > g.left {
		g.err = fmt.Errorf("value of %d bytes runs past the end of the file", n)
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(g.r, b); err != nil {
		g.err = err
		return nil
	}
	g.left -= n
	return b
}

func (g *ggufReader) skip(n int64) {
	if g.err != nil {
		return
	}
	if n < 0 || n > g.left {
		g.err = fmt.Errorf("value of %d bytes runs past the end of the file", n)
		return
	}
	if _, err := g.r.Discard(int(n)); err != nil {
		g.err = err
	}
	g.left -= n
}

func (g *ggufReader) u32() uint32 {
	b := g.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (g *ggufReader) u64() uint64 {
	b := g.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (g *ggufReader) str() string { return string(g.bytes(int64(g.u64()))) }

var ggufSize = [...]int64{gU8: 1, gI8: 1, gU16: 2, gI16: 2, gU32: 4, gI32: 4, gF32: 4, gBool: 1, gU64: 8, gI64: 8, gF64: 8}

// scalar reads one fixed-size value as int64, float64 or bool.
func (g *ggufReader) scalar(t uint32) any {
	b := g.bytes(ggufSize[t])
	if b == nil {
		return nil
	}
	switch t {
	case gU8:
		return int64(b[0])
	case gI8:
		return int64(int8(b[0]))
	case gU16:
		return int64(binary.LittleEndian.Uint16(b))
	case gI16:
		return int64(int16(binary.LittleEndian.Uint16(b)))
	case gU32:
		return int64(binary.LittleEndian.Uint32(b))
	case gI32:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	case gF32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case gBool:
		return b[0] != 0
	case gU64:
		return int64(binary.LittleEndian.Uint64(b))
	case gI64:
		return int64(binary.LittleEndian.Uint64(b))
	case gF64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return nil
}

// value reads a value of type t; keep=false skips it.
func (g *ggufReader) value(t uint32, keep bool) any {
	switch {
	case t == gString:
		n := int64(g.u64())
		if !keep {
			g.skip(n)
			return nil
		}
		return string(g.bytes(n))
	case t == gArray:
		et := g.u32()
		n := int64(g.u64())
		if g.err != nil {
			return nil
		}
		if et > gF64 || et == gArray {
			if et == gArray && n == 0 {
				return nil
			}
			g.err = fmt.Errorf("array of type %d is not supported", et)
			return nil
		}
		if et != gString && n > g.left/ggufSize[et] {
			g.err = fmt.Errorf("array of %d values runs past the end of the file", n)
			return nil
		}
		if et == gString && n > g.left/8 {
			g.err = fmt.Errorf("array of %d strings runs past the end of the file", n)
			return nil
		}
		if !keep {
			if et == gString {
				for i := int64(0); i < n && g.err == nil; i++ {
					g.skip(int64(g.u64()))
				}
			} else {
				g.skip(n * ggufSize[et])
			}
			return nil
		}
		switch et {
		case gString:
			out := make([]string, 0, n)
			for i := int64(0); i < n && g.err == nil; i++ {
				out = append(out, g.str())
			}
			return out
		case gF32, gF64:
			out := make([]float32, 0, n)
			for i := int64(0); i < n && g.err == nil; i++ {
				f, _ := g.scalar(et).(float64)
				out = append(out, float32(f))
			}
			return out
		case gBool:
			out := make([]bool, 0, n)
			for i := int64(0); i < n && g.err == nil; i++ {
				b, _ := g.scalar(et).(bool)
				out = append(out, b)
			}
			return out
		default:
			out := make([]int64, 0, n)
			for i := int64(0); i < n && g.err == nil; i++ {
				v, _ := g.scalar(et).(int64)
				out = append(out, v)
			}
			return out
		}
	case t <= gF64:
		v := g.scalar(t)
		if f, ok := v.(float64); ok {
			return f
		}
		return v
	}
	g.err = fmt.Errorf("value type %d is not a GGUF type", t)
	return nil
}

// ReadGGUFMeta reads the metadata of a GGUF file (v2 or v3), keeping the
// general.* and tokenizer.* keys; tensor data is never read.
func ReadGGUFMeta(src source.Source) (GGUFMeta, error) {
	g := &ggufReader{r: bufio.NewReaderSize(io.NewSectionReader(src, 0, src.Size()), 1<<16), left: src.Size()}
	magic := g.bytes(4)
	if g.err != nil || string(magic) != "GGUF" {
		return nil, fmt.Errorf("%s: not a GGUF file", src.Name())
	}
	ver := g.u32()
	if ver != 2 && ver != 3 {
		return nil, fmt.Errorf("%s: GGUF version %d is not supported (2 or 3)", src.Name(), ver)
	}
	g.u64() // tensor count
	nkv := g.u64()
	kv := ggufKV{}
	for i := uint64(0); i < nkv && g.err == nil; i++ {
		key := g.str()
		t := g.u32()
		keep := strings.HasPrefix(key, "tokenizer.ggml.") || strings.HasPrefix(key, "general.")
		if v := g.value(t, keep); keep && g.err == nil {
			kv[key] = v
		}
	}
	if g.err != nil {
		return nil, fmt.Errorf("%s: reading GGUF metadata: %w", src.Name(), g.err)
	}
	return kv, nil
}
