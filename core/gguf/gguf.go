// Package gguf reads and writes GGUF files (version 3, and version 2 which
// has the same layout), little-endian only.
//
// A GGUF file is: "GGUF", uint32 version, uint64 tensor count, uint64
// metadata count, the metadata key/values, the tensor infos (name, dims
// fastest-first, GGML type, offset relative to the data section), padding to
// general.alignment (default 32), then the tensor data, each tensor starting
// at an aligned offset.
//
// Parse reads the header only, through 64 KiB chunks, and checks every count
// and length against the file's size before allocating. Tensor shapes are
// reversed into tensor.Info order (slowest dimension first, like
// safetensors), so a GGUF matrix with dims [cols, rows] has Shape [rows, cols].
//
// Tensor types F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, the K-quants
// Q2_K to Q6_K and the non-linear IQ4_NL and IQ4_XS are read (the quantized
// ones widened exactly as ggml does, in core/tensor). Tensors of any other GGML type that this package knows the
// block size of (IQ2_XXS, Q8_K, ...) are kept
// by Parse, checked for bounds and overlap like the others, so that metadata
// and tensor lists can still be shown; reading one returns an error that names
// the tensor and its type number. A type number unknown to GGML is a parse
// error.
//
// Writer streams a GGUF file: metadata and tensor infos first, then each
// tensor's data in order.
package gguf

import (
	"fmt"
	"math"
	"sort"

	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// Version is the version the Writer writes.
const Version = 3

// DefaultAlignment is used when general.alignment is absent.
const DefaultAlignment = 32

// maxDim bounds one dimension: far beyond any real tensor, small enough
// that no product of four overflows in the checks below.
const maxDim = 1 << 40

// shapeElems is the number of elements of a shape, the one rule the reader
// and the writer share: every dimension at most maxDim, and a product (when
// no dimension is zero) that leaves room for 8 bytes an element. The order
// of the dimensions does not matter.
func shapeElems(dims []uint64) (int64, bool) {
	elems := uint64(1)
	for _, d := range dims {
		if d > maxDim {
			return 0, false
		}
	}
	for _, d := range dims {
		if d == 0 {
			return 0, true
		}
		if elems > math.MaxInt64/8/d {
			return 0, false
		}
		elems *= d
	}
	return int64(elems), true
}

// MaxDims is the largest number of dimensions a tensor may have.
const MaxDims = 4

// MaxHeaderBytes bounds the size of the metadata and tensor infos (real
// headers, 256k-token vocabularies included, are a few tens of MB).
const MaxHeaderBytes = 128 << 20

// maxDepth bounds the nesting of arrays of arrays.
const maxDepth = 8

// ValueType is the type of a metadata value.
type ValueType uint32

const (
	ValUint8 ValueType = iota
	ValInt8
	ValUint16
	ValInt16
	ValUint32
	ValInt32
	ValFloat32
	ValBool
	ValString
	ValArray
	ValUint64
	ValInt64
	ValFloat64
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// KV is one metadata entry. Value holds, by Type: uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64, or for
// ValArray an Array.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// Array is an array value. Data is a slice of the element type ([]uint8,
// []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64), or []Array for arrays of arrays.
type Array struct {
	Elem ValueType
	Data any
}

// Len is the number of elements.
func (a Array) Len() int {
	switch d := a.Data.(type) {
	case []uint8:
		return len(d)
	case []int8:
		return len(d)
	case []uint16:
		return len(d)
	case []int16:
		return len(d)
	case []uint32:
		return len(d)
	case []int32:
		return len(d)
	case []float32:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	case []uint64:
		return len(d)
	case []int64:
		return len(d)
	case []float64:
		return len(d)
	case []Array:
		return len(d)
	}
	return 0
}

// File is a parsed GGUF header.
type File struct {
	Src       source.Source
	Version   uint32
	KVs       []KV // in file order
	Alignment int64
	DataStart int64    // absolute offset of the data section
	Tensors   []Tensor // in file order
	kvIndex   map[string]int
	byName    map[string]int
}

// Tensor is one tensor: its Info (Shape slowest-first, absolute Offset), its
// GGML type and size, and the Source holding it. Info.DType is meaningful
// only when Supported(); it is -1 otherwise.
type Tensor struct {
	tensor.Info
	Type GGMLType
	Size int64 // bytes
	Src  source.Source
}

// Supported reports whether the tensor's type can be read (F32, F16, BF16,
// and the quantized types core/tensor decodes).
func (t Tensor) Supported() bool {
	_, ok := t.Type.DType()
	return ok
}

// Get returns a metadata entry.
func (f *File) Get(key string) (KV, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return KV{}, false
	}
	return f.KVs[i], true
}

// Tensor looks a tensor up by name.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Names lists the tensor names, sorted.
func (f *File) Names() []string {
	n := make([]string, 0, len(f.Tensors))
	for _, t := range f.Tensors {
		n = append(n, t.Name)
	}
	sort.Strings(n)
	return n
}

// Minimum encoded sizes, used to bound counts before allocating.
const (
	minKVBytes     = 8 + 1 + 4 + 1 // key length, a 1-byte key, type, smallest value
	minTensorBytes = 8 + 4 + 4 + 8 // name length, n_dims, type, offset
)

// Parse reads and checks a GGUF header. Errors are one line and name the file
// and, where it applies, the metadata key or the tensor.
func Parse(src source.Source) (*File, error) {
	name := src.Name()
	if src.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file, not a GGUF file", name)
	}
	r := newReader(src)
	magic := r.next(4)
	if magic == nil {
		return nil, fmt.Errorf("%s: %d bytes is too short for a GGUF file", name, src.Size())
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("%s: bad magic %q: not a GGUF file", name, magic)
	}
	f := &File{Src: src, Alignment: DefaultAlignment}
	f.Version = r.u32()
	nt := r.u64()
	nkv := r.u64()
	if r.err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, r.err)
	}
	switch {
	case f.Version == 2 || f.Version == 3:
	case f.Version == 1:
		return nil, fmt.Errorf("%s: GGUF version 1 is not supported (want 2 or 3)", name)
	case f.Version&0xffff == 0 && (f.Version>>24 == 2 || f.Version>>24 == 3):
		return nil, fmt.Errorf("%s: big-endian GGUF is not supported", name)
	default:
		return nil, fmt.Errorf("%s: unsupported GGUF version %d (want 2 or 3)", name, f.Version)
	}
	if left := r.left(); nkv > uint64(left/minKVBytes) {
		return nil, fmt.Errorf("%s: metadata count %d cannot fit in the %d bytes %s", name, nkv, left, r.leftWhat())
	}
	if left := r.left(); nt > uint64(left/minTensorBytes) {
		return nil, fmt.Errorf("%s: tensor count %d cannot fit in the %d bytes %s", name, nt, left, r.leftWhat())
	}

	f.KVs = make([]KV, 0, min(nkv, 1024))
	f.kvIndex = make(map[string]int, min(nkv, 1024))
	for i := range int(nkv) {
		key := r.str()
		if r.err != nil {
			return nil, fmt.Errorf("%s: metadata entry %d: key: %w", name, i, r.err)
		}
		if key == "" {
			return nil, fmt.Errorf("%s: metadata entry %d has an empty key", name, i)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, fmt.Errorf("%s: metadata key %q appears twice", name, key)
		}
		t := ValueType(r.u32())
		v := r.value(t, 0)
		if r.err != nil {
			return nil, fmt.Errorf("%s: metadata %q: %w", name, key, r.err)
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Type: t, Value: v})
	}
	if kv, ok := f.Get("general.alignment"); ok {
		a, isU32 := kv.Value.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 || a > 1<<30 {
			return nil, fmt.Errorf("%s: general.alignment %v (%s) is not a uint32 power of two", name, kv.Value, kv.Type)
		}
		f.Alignment = int64(a)
	}

	f.Tensors = make([]Tensor, 0, min(nt, 4096))
	f.byName = make(map[string]int, min(nt, 4096))
	rel := make([]int64, 0, min(nt, 4096)) // offsets relative to the data section
	for i := range int(nt) {
		tn := r.str()
		if r.err != nil {
			return nil, fmt.Errorf("%s: tensor info %d: name: %w", name, i, r.err)
		}
		t, off, err := readTensorInfo(r, tn)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", name, tn, err)
		}
		if _, dup := f.byName[tn]; dup {
			return nil, fmt.Errorf("%s: tensor %q appears twice", name, tn)
		}
		if off%uint64(f.Alignment) != 0 {
			return nil, fmt.Errorf("%s: tensor %q: offset %d is not a multiple of the alignment %d", name, tn, off, f.Alignment)
		}
		if off > math.MaxInt64/2 {
			return nil, fmt.Errorf("%s: tensor %q: offset %d lies outside the file", name, tn, off)
		}
		t.Src = src
		f.byName[tn] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
		rel = append(rel, int64(off))
	}
	f.DataStart = r.pos()
	if nt > 0 {
		f.DataStart = alignUp(f.DataStart, f.Alignment)
	}
	dataSize := max(src.Size()-f.DataStart, 0)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if rel[i] > dataSize-t.Size {
			return nil, fmt.Errorf("%s: tensor %q: data [%d, %d) lies outside the file (data section is %d bytes)", name, t.Name, rel[i], rel[i]+t.Size, dataSize)
		}
		t.Offset = f.DataStart + rel[i]
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rel[order[a]] < rel[order[b]] })
	prev := -1
	for _, j := range order {
		if f.Tensors[j].Size == 0 {
			continue
		}
		if prev >= 0 && rel[j] < rel[prev]+f.Tensors[prev].Size {
			return nil, fmt.Errorf("%s: tensors %q [%d, %d) and %q [%d, %d) overlap", name,
				f.Tensors[prev].Name, rel[prev], rel[prev]+f.Tensors[prev].Size, f.Tensors[j].Name, rel[j], rel[j]+f.Tensors[j].Size)
		}
		prev = j
	}
	return f, nil
}

func alignUp(x, a int64) int64 { return (x + a - 1) / a * a }

// readTensorInfo reads the part of a tensor info after its name.
func readTensorInfo(r *reader, name string) (Tensor, uint64, error) {
	nd := r.u32()
	if r.err != nil {
		return Tensor{}, 0, r.err
	}
	if nd > MaxDims {
		return Tensor{}, 0, fmt.Errorf("%d dimensions, at most %d allowed", nd, MaxDims)
	}
	var dims [MaxDims]uint64
	for i := range nd {
		dims[i] = r.u64()
	}
	typ := GGMLType(r.u32())
	off := r.u64()
	if r.err != nil {
		return Tensor{}, 0, r.err
	}
	shape := make([]int, nd)
	elems, ok := shapeElems(dims[:nd])
	if !ok {
		return Tensor{}, 0, fmt.Errorf("dims %v have too many elements", dims[:nd])
	}
	for i := range nd {
		shape[int(nd)-1-int(i)] = int(dims[i])
	}
	blk, bsize, ok := typ.Block()
	if !ok {
		return Tensor{}, 0, fmt.Errorf("unknown GGML type %d", uint32(typ))
	}
	if blk > 1 && (nd == 0 || int64(dims[0])%blk != 0) {
		return Tensor{}, 0, fmt.Errorf("type %s needs rows of a multiple of %d elements, got dims %v", typ, blk, dims[:nd])
	}
	if elems/blk > math.MaxInt64/bsize || (nd > 0 && int64(dims[0])/blk > math.MaxInt64/bsize) {
		return Tensor{}, 0, fmt.Errorf("dims %v have too many elements", dims[:nd])
	}
	t := Tensor{Info: tensor.Info{Name: name, DType: -1, Shape: shape}, Type: typ, Size: elems / blk * bsize}
	if dt, ok := typ.DType(); ok {
		t.DType = dt
	}
	return t, off, nil
}

// value reads a metadata value of type t.
func (r *reader) value(t ValueType, depth int) any {
	switch t {
	case ValUint8:
		return r.u8()
	case ValInt8:
		return int8(r.u8())
	case ValUint16:
		return r.u16()
	case ValInt16:
		return int16(r.u16())
	case ValUint32:
		return r.u32()
	case ValInt32:
		return int32(r.u32())
	case ValFloat32:
		return math.Float32frombits(r.u32())
	case ValBool:
		return r.u8() != 0
	case ValString:
		return r.str()
	case ValUint64:
		return r.u64()
	case ValInt64:
		return int64(r.u64())
	case ValFloat64:
		return math.Float64frombits(r.u64())
	case ValArray:
		return r.array(ValueType(r.u32()), depth+1)
	}
	r.fail("unknown value type %d", uint32(t))
	return nil
}

// array reads an array's count and elements.
func (r *reader) array(et ValueType, depth int) Array {
	a := Array{Elem: et}
	if r.err != nil {
		return a
	}
	const what = "array length"
	switch et {
	case ValUint8:
		a.Data = fixed(r, r.count(what, 1), 1, decU8)
	case ValInt8:
		a.Data = fixed(r, r.count(what, 1), 1, decI8)
	case ValUint16:
		a.Data = fixed(r, r.count(what, 2), 2, decU16)
	case ValInt16:
		a.Data = fixed(r, r.count(what, 2), 2, decI16)
	case ValUint32:
		a.Data = fixed(r, r.count(what, 4), 4, decU32)
	case ValInt32:
		a.Data = fixed(r, r.count(what, 4), 4, decI32)
	case ValFloat32:
		a.Data = fixed(r, r.count(what, 4), 4, decF32)
	case ValBool:
		a.Data = fixed(r, r.count(what, 1), 1, decBool)
	case ValUint64:
		a.Data = fixed(r, r.count(what, 8), 8, decU64)
	case ValInt64:
		a.Data = fixed(r, r.count(what, 8), 8, decI64)
	case ValFloat64:
		a.Data = fixed(r, r.count(what, 8), 8, decF64)
	case ValString:
		n := r.count(what, 8)
		s := make([]string, 0, min(n, prealloc))
		for i := 0; i < n && r.err == nil; i++ {
			s = append(s, r.str())
		}
		if r.err == nil {
			a.Data = s
		}
	case ValArray:
		if depth >= maxDepth {
			r.fail("arrays nested deeper than %d", maxDepth)
			return a
		}
		n := r.count(what, 12)
		s := make([]Array, 0, min(n, prealloc))
		for i := 0; i < n && r.err == nil; i++ {
			s = append(s, r.array(ValueType(r.u32()), depth+1))
		}
		if r.err == nil {
			a.Data = s
		}
	default:
		r.fail("unknown array element type %d", uint32(et))
	}
	return a
}
