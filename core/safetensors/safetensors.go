// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length N, N bytes of JSON describing every tensor
// ({"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}},
// plus an optional "__metadata__" object of strings), then the tensor bytes.
// data_offsets are relative to the first byte after the header.
//
// Reading is lazy: Parse reads only the header, and Tensor.ReadRaw/ReadF32
// read the rows asked for through the Source. Open handles a Hugging Face
// folder with one model.safetensors or shards listed in
// model.safetensors.index.json. Writer streams a file tensor by tensor.
//
// Only F32, F16 and BF16 tensors are supported; a file holding any other dtype
// (I64, F8_E4M3, ...) is refused with an error that names the tensor.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// MaxHeader is the largest JSON header accepted (the reference implementation
// uses the same 100 MB limit).
const MaxHeader = 100_000_000

// File is one parsed safetensors file.
type File struct {
	Src        source.Source
	HeaderSize int64 // N, the JSON header's length
	DataStart  int64 // 8 + N: where data_offsets count from
	Metadata   map[string]string
	Tensors    []Tensor // sorted by offset
	byName     map[string]int
}

// Tensor is one tensor of a file: where it lies (absolute Offset) and which
// Source holds it.
type Tensor struct {
	tensor.Info
	Src source.Source
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

// knownDTypes are the safetensors dtype names that exist but cusprun does not
// read; anything else is reported as unknown.
var knownDTypes = map[string]bool{
	"BOOL": true, "U8": true, "I8": true, "I16": true, "U16": true, "I32": true,
	"U32": true, "I64": true, "U64": true, "F64": true, "F8_E5M2": true,
	"F8_E4M3": true, "F8_E8M0": true, "F4": true, "F6_E2M3": true, "F6_E3M2": true,
	"C64": true,
}

func parseDType(s string) (tensor.DType, error) {
	switch s {
	case "F32":
		return tensor.F32, nil
	case "F16":
		return tensor.F16, nil
	case "BF16":
		return tensor.BF16, nil
	}
	if knownDTypes[s] {
		return 0, fmt.Errorf("unsupported dtype %s (cusprun reads F32, F16 and BF16)", s)
	}
	return 0, fmt.Errorf("unknown dtype %q (cusprun reads F32, F16 and BF16)", s)
}

func dtypeName(d tensor.DType) (string, error) {
	switch d {
	case tensor.F32, tensor.F16, tensor.BF16:
		return d.String(), nil
	}
	return "", fmt.Errorf("dtype %s cannot be stored in safetensors (want F32, F16 or BF16)", d)
}

type rawEntry struct {
	DType       *string       `json:"dtype"`
	Shape       []json.Number `json:"shape"`
	DataOffsets []json.Number `json:"data_offsets"`
}

// Parse reads the header of one safetensors file and checks it against the
// file: every tensor must have a supported dtype, a sane shape, data_offsets
// matching its size and lying inside the file, and no two tensors may overlap.
func Parse(src source.Source) (*File, error) {
	name := src.Name()
	size := src.Size()
	if size == 0 {
		return nil, fmt.Errorf("%s: empty file, not a safetensors file", name)
	}
	if size < 8 {
		return nil, fmt.Errorf("%s: %d bytes is too short for a safetensors header", name, size)
	}
	lb, err := source.ReadExact(src, 0, 8)
	if err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lb)
	if n > MaxHeader {
		return nil, fmt.Errorf("%s: header length %d is larger than the %d allowed: not a safetensors file", name, n, MaxHeader)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("%s: header length %d runs past the end of the file (size %d)", name, n, size)
	}
	if n < 2 {
		return nil, fmt.Errorf("%s: header length %d is too short for a JSON header", name, n)
	}
	hdr, err := source.ReadExact(src, 8, int64(n))
	if err != nil {
		return nil, err
	}
	f := &File{Src: src, HeaderSize: int64(n), DataStart: 8 + int64(n), byName: map[string]int{}}
	if err := f.parseHeader(hdr); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func (f *File) parseHeader(hdr []byte) error {
	if i := bytes.IndexFunc(hdr, func(r rune) bool { return r != ' ' && r != '\t' && r != '\n' && r != '\r' }); i < 0 || hdr[i] != '{' {
		return fmt.Errorf("header is not a JSON object: not a safetensors file")
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("invalid JSON header: %s", oneLine(err))
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("invalid JSON header: data after the top-level object")
	}
	dataSize := f.Src.Size() - f.DataStart
	if m, ok := raw["__metadata__"]; ok {
		if err := json.Unmarshal(m, &f.Metadata); err != nil {
			return fmt.Errorf("__metadata__ must map strings to strings: %s", oneLine(err))
		}
		delete(raw, "__metadata__")
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	f.Tensors = make([]Tensor, 0, len(names))
	type span struct{ begin, end int64 }
	spans := make([]span, 0, len(names))
	for _, tn := range names {
		var e rawEntry
		d := json.NewDecoder(bytes.NewReader(raw[tn]))
		d.UseNumber()
		if err := d.Decode(&e); err != nil {
			return fmt.Errorf("tensor %q: invalid entry: %s", tn, oneLine(err))
		}
		if e.DType == nil {
			return fmt.Errorf("tensor %q: no dtype", tn)
		}
		dt, err := parseDType(*e.DType)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", tn, err)
		}
		if e.Shape == nil {
			return fmt.Errorf("tensor %q: no shape", tn)
		}
		shape := make([]int, len(e.Shape))
		elems := int64(1)
		for i, s := range e.Shape {
			v, err := strconv.ParseInt(string(s), 10, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("tensor %q: shape %v: dimension %s is not a non-negative integer", tn, e.Shape, s)
			}
			if v > math.MaxInt64/4 || (v != 0 && elems > math.MaxInt64/v) {
				return fmt.Errorf("tensor %q: shape %v has too many elements", tn, e.Shape)
			}
			shape[i] = int(v)
			elems *= v
		}
		if len(e.DataOffsets) != 2 {
			return fmt.Errorf("tensor %q: data_offsets must be [begin, end]", tn)
		}
		var off [2]int64
		for i, s := range e.DataOffsets {
			v, err := strconv.ParseInt(string(s), 10, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("tensor %q: data_offsets %v: %s is not a non-negative integer that fits the file", tn, e.DataOffsets, s)
			}
			off[i] = v
		}
		if elems > math.MaxInt64/4 {
			return fmt.Errorf("tensor %q: shape %v has too many elements", tn, shape)
		}
		want := dt.ByteSize(elems)
		if off[1] < off[0] || off[1]-off[0] != want {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] hold %d bytes but %s %v needs %d", tn, off[0], off[1], off[1]-off[0], dt, shape, want)
		}
		if off[1] > dataSize {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the end of the data (%d bytes)", tn, off[0], off[1], dataSize)
		}
		f.Tensors = append(f.Tensors, Tensor{Info: tensor.Info{Name: tn, DType: dt, Shape: shape, Offset: f.DataStart + off[0]}, Src: f.Src})
		spans = append(spans, span{off[0], off[1]})
	}
	idx := make([]int, len(f.Tensors))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		sa, sb := spans[idx[a]], spans[idx[b]]
		if sa.begin != sb.begin {
			return sa.begin < sb.begin
		}
		return sa.end < sb.end
	})
	sorted := make([]Tensor, len(idx))
	var prev int = -1
	for i, j := range idx {
		sorted[i] = f.Tensors[j]
		if spans[j].begin == spans[j].end {
			continue // empty tensors occupy nothing
		}
		if prev >= 0 && spans[j].begin < spans[prev].end {
			return fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap", f.Tensors[prev].Name, spans[prev].begin, spans[prev].end, f.Tensors[j].Name, spans[j].begin, spans[j].end)
		}
		prev = j
	}
	f.Tensors = sorted
	for i, t := range f.Tensors {
		f.byName[t.Name] = i
	}
	return nil
}

// oneLine keeps error text on one line.
func oneLine(err error) string {
	return string(bytes.ReplaceAll([]byte(err.Error()), []byte("\n"), []byte(" ")))
}
