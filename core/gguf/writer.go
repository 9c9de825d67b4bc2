package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/cusprun/cusprun/core/tensor"
)

// Writer streams a GGUF v3 file:
//
//	w := gguf.NewWriter(out)
//	w.SetString("general.architecture", "llama") // ... metadata, in order
//	w.AddTensor(info)                            // ... every tensor, in order
//	w.WriteHeader()
//	w.WriteTensor(name, data)                    // ... in the same order
//	w.Close()
//
// Setting a key that is already set replaces its value in place. The
// alignment is general.alignment when set (a uint32 power of two), else 32.
// Each tensor's data is followed by zero padding to the alignment. The writer
// holds only metadata and tensor infos, never tensor data.
type Writer struct {
	w       io.Writer
	kvs     []KV
	kvIndex map[string]int
	tensors []wtensor
	names   map[string]bool
	align   int64
	version uint32
	start   int64 // data section start, known after WriteHeader
	state   int   // 0 building, 1 header written, 2 closed
	next    int
	done    int64
	written int64
	err     error
}

type wtensor struct {
	info tensor.Info // Offset: relative to the data section until WriteHeader
	typ  GGMLType
	size int64
}

// NewWriter starts a GGUF file on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, kvIndex: map[string]int{}, names: map[string]bool{}, align: DefaultAlignment, version: Version}
}

// SetVersion chooses the version written in the header: 3 (the default) or
// 2, which has the same layout (to rewrite an old file byte for byte).
func (w *Writer) SetVersion(v uint32) error {
	if v != 2 && v != 3 {
		return w.fail(fmt.Errorf("gguf writer: cannot write GGUF version %d (want 2 or 3)", v))
	}
	w.version = v
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// Set adds or replaces a metadata entry. The GGUF type follows the Go type of
// value: uint8, int8, uint16, int16, uint32, int32, float32, bool, string,
// uint64, int64, float64, a slice of one of those (an array), an Array (as
// Parse returns it, which may nest arrays), or a KV's Value. Plain int and
// other types are refused: the type must be explicit.
func (w *Writer) Set(key string, value any) error {
	if w.state != 0 {
		return w.fail(fmt.Errorf("gguf writer: metadata %q set after WriteHeader", key))
	}
	if key == "" {
		return w.fail(fmt.Errorf("gguf writer: empty metadata key"))
	}
	t, v, err := normalize(value, 0)
	if err != nil {
		return w.fail(fmt.Errorf("gguf writer: metadata %q: %w", key, err))
	}
	if i, ok := w.kvIndex[key]; ok {
		w.kvs[i] = KV{Key: key, Type: t, Value: v}
		return nil
	}
	w.kvIndex[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Type: t, Value: v})
	return nil
}

// SetKV adds or replaces an entry as Parse returned it (to copy metadata).
func (w *Writer) SetKV(kv KV) error { return w.Set(kv.Key, kv.Value) }

// Delete removes a metadata entry if present.
func (w *Writer) Delete(key string) {
	i, ok := w.kvIndex[key]
	if !ok || w.state != 0 {
		return
	}
	w.kvs = append(w.kvs[:i], w.kvs[i+1:]...)
	delete(w.kvIndex, key)
	for j := i; j < len(w.kvs); j++ {
		w.kvIndex[w.kvs[j].Key] = j
	}
}

// Typed setters; a misuse (after WriteHeader) is reported by WriteHeader.
func (w *Writer) SetString(key, v string)             { w.Set(key, v) }
func (w *Writer) SetBool(key string, v bool)          { w.Set(key, v) }
func (w *Writer) SetUint32(key string, v uint32)      { w.Set(key, v) }
func (w *Writer) SetFloat32(key string, v float32)    { w.Set(key, v) }
func (w *Writer) SetStrings(key string, v []string)   { w.Set(key, v) }
func (w *Writer) SetInt32s(key string, v []int32)     { w.Set(key, v) }
func (w *Writer) SetFloat32s(key string, v []float32) { w.Set(key, v) }

// normalize returns the GGUF type of a Go value, with slices wrapped in an
// Array.
func normalize(v any, depth int) (ValueType, any, error) {
	switch x := v.(type) {
	case uint8:
		return ValUint8, x, nil
	case int8:
		return ValInt8, x, nil
	case uint16:
		return ValUint16, x, nil
	case int16:
		return ValInt16, x, nil
	case uint32:
		return ValUint32, x, nil
	case int32:
		return ValInt32, x, nil
	case float32:
		return ValFloat32, x, nil
	case bool:
		return ValBool, x, nil
	case string:
		return ValString, x, nil
	case uint64:
		return ValUint64, x, nil
	case int64:
		return ValInt64, x, nil
	case float64:
		return ValFloat64, x, nil
	case Array:
		a, err := checkArray(x, depth)
		return ValArray, a, err
	}
	if et, ok := sliceElem(v); ok {
		a, err := checkArray(Array{Elem: et, Data: v}, depth)
		return ValArray, a, err
	}
	return 0, nil, fmt.Errorf("value of Go type %T has no GGUF type (use an explicitly sized type)", v)
}

func sliceElem(v any) (ValueType, bool) {
	switch v.(type) {
	case []uint8:
		return ValUint8, true
	case []int8:
		return ValInt8, true
	case []uint16:
		return ValUint16, true
	case []int16:
		return ValInt16, true
	case []uint32:
		return ValUint32, true
	case []int32:
		return ValInt32, true
	case []float32:
		return ValFloat32, true
	case []bool:
		return ValBool, true
	case []string:
		return ValString, true
	case []uint64:
		return ValUint64, true
	case []int64:
		return ValInt64, true
	case []float64:
		return ValFloat64, true
	case []Array:
		return ValArray, true
	}
	return 0, false
}

func checkArray(a Array, depth int) (Array, error) {
	if depth >= maxDepth {
		return a, fmt.Errorf("arrays nested deeper than %d", maxDepth)
	}
	et, ok := sliceElem(a.Data)
	if !ok || et != a.Elem {
		return a, fmt.Errorf("array of %s holds %T", a.Elem, a.Data)
	}
	if sub, ok := a.Data.([]Array); ok {
		for _, s := range sub {
			if _, err := checkArray(s, depth+1); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

// AddTensor declares the next tensor (Shape slowest-first; Offset ignored).
// Its dtype must be one with a GGML type (TypeOf).
func (w *Writer) AddTensor(info tensor.Info) error {
	t, ok := TypeOf(info.DType)
	if !ok {
		return w.fail(fmt.Errorf("gguf writer: tensor %q: dtype %s has no GGML type", info.Name, info.DType))
	}
	return w.AddTensorType(info.Name, info.Shape, t)
}

// AddTensorType declares the next tensor with any known GGML type, for
// copying tensors whose bytes are passed through unchanged.
func (w *Writer) AddTensorType(name string, shape []int, t GGMLType) error {
	if w.state != 0 {
		return w.fail(fmt.Errorf("gguf writer: tensor %q added after WriteHeader", name))
	}
	if w.names[name] {
		return w.fail(fmt.Errorf("gguf writer: tensor %q added twice", name))
	}
	if len(shape) > MaxDims {
		return w.fail(fmt.Errorf("gguf writer: tensor %q: %d dimensions, at most %d allowed", name, len(shape), MaxDims))
	}
	blk, nb, ok := t.Block()
	if !ok {
		return w.fail(fmt.Errorf("gguf writer: tensor %q: unknown GGML type %d", name, uint32(t)))
	}
	dims := make([]uint64, len(shape))
	for i, d := range shape {
		if d < 0 {
			return w.fail(fmt.Errorf("gguf writer: tensor %q: bad shape %v", name, shape))
		}
		dims[i] = uint64(d)
	}
	elems, ok := shapeElems(dims)
	if !ok {
		return w.fail(fmt.Errorf("gguf writer: tensor %q: bad shape %v", name, shape))
	}
	if blk > 1 && (len(shape) == 0 || int64(shape[len(shape)-1])%blk != 0) {
		return w.fail(fmt.Errorf("gguf writer: tensor %q: type %s needs rows of a multiple of %d elements, shape %v", name, t, blk, shape))
	}
	info := tensor.Info{Name: name, DType: -1, Shape: append([]int(nil), shape...)}
	if dt, ok := t.DType(); ok {
		info.DType = dt
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{info: info, typ: t, size: elems / blk * nb})
	return nil
}

// countWriter counts the bytes passing through a bufio.Writer.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteHeader writes the header, the metadata, the tensor infos and the
// padding up to the data section.
func (w *Writer) WriteHeader() error {
	if w.err != nil {
		return w.err
	}
	if w.state != 0 {
		return w.fail(fmt.Errorf("gguf writer: WriteHeader called twice"))
	}
	w.state = 1
	if i, ok := w.kvIndex["general.alignment"]; ok {
		a, isU32 := w.kvs[i].Value.(uint32)
		if !isU32 || a == 0 || a&(a-1) != 0 {
			return w.fail(fmt.Errorf("gguf writer: general.alignment must be a uint32 power of two, got %v (%s)", w.kvs[i].Value, w.kvs[i].Type))
		}
		w.align = int64(a)
	}
	var off int64
	for i := range w.tensors {
		w.tensors[i].info.Offset = off
		off = alignUp(off+w.tensors[i].size, w.align)
	}
	cw := &countWriter{w: w.w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	e := encoder{w: bw}
	e.raw([]byte(Magic))
	e.u32(w.version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Type))
		e.value(kv.Type, kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Shape)))
		for i := len(t.info.Shape) - 1; i >= 0; i-- {
			e.u64(uint64(t.info.Shape[i]))
		}
		e.u32(uint32(t.typ))
		e.u64(uint64(t.info.Offset))
	}
	pos := cw.n + int64(bw.Buffered())
	w.start = pos
	if len(w.tensors) > 0 {
		w.start = alignUp(pos, w.align)
		e.raw(make([]byte, w.start-pos))
	}
	if err := bw.Flush(); err != nil {
		return w.fail(fmt.Errorf("gguf writer: %w", err))
	}
	w.written = cw.n
	for i := range w.tensors {
		w.tensors[i].info.Offset += w.start
	}
	w.skipEmpty()
	return nil
}

// Infos returns the tensors with their absolute offsets (valid after
// WriteHeader).
func (w *Writer) Infos() []tensor.Info {
	out := make([]tensor.Info, len(w.tensors))
	for i, t := range w.tensors {
		out[i] = t.info
	}
	return out
}

// DataStart is the absolute offset of the data section (after WriteHeader).
func (w *Writer) DataStart() int64 { return w.start }

// Size is the total file size once complete (after WriteHeader).
func (w *Writer) Size() int64 {
	if len(w.tensors) == 0 {
		return w.start
	}
	last := w.tensors[len(w.tensors)-1]
	return alignUp(last.info.Offset+last.size, w.align)
}

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(b)
	w.written += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return w.fail(fmt.Errorf("gguf writer: %w", err))
	}
	return nil
}

var zeros [4096]byte

// pad writes zeros up to the next alignment boundary.
func (w *Writer) pad() error {
	for n := alignUp(w.written, w.align) - w.written; n > 0; {
		k := min(n, int64(len(zeros)))
		if err := w.write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (w *Writer) skipEmpty() {
	for w.next < len(w.tensors) && w.tensors[w.next].size == 0 {
		w.next++
	}
}

// WriteTensor writes the whole of the next tensor, which must be name.
// Tensors of zero bytes are passed over by themselves; writing one anyway
// (with no data) is accepted.
func (w *Writer) WriteTensor(name string, data []byte) error {
	cur, err := w.expect(name, data)
	if err != nil || !cur {
		return err
	}
	if w.done != 0 {
		return fmt.Errorf("gguf writer: tensor %q is partly written with WritePart", name)
	}
	if int64(len(data)) != w.tensors[w.next].size {
		return fmt.Errorf("gguf writer: tensor %q is %d bytes, got %d", name, w.tensors[w.next].size, len(data))
	}
	return w.WritePart(name, data)
}

// WritePart appends data to the next tensor, which must be name; once all its
// bytes are written the padding follows and the next tensor is due.
func (w *Writer) WritePart(name string, data []byte) error {
	cur, err := w.expect(name, data)
	if err != nil || !cur {
		return err
	}
	t := w.tensors[w.next]
	if rest := t.size - w.done; int64(len(data)) > rest {
		return fmt.Errorf("gguf writer: tensor %q is %d bytes, got %d more than that", name, t.size, int64(len(data))-rest)
	}
	if err := w.write(data); err != nil {
		return err
	}
	w.done += int64(len(data))
	if w.done == t.size {
		if err := w.pad(); err != nil {
			return err
		}
		w.next++
		w.done = 0
		w.skipEmpty()
	}
	return nil
}

func (w *Writer) expect(name string, data []byte) (cur bool, err error) {
	if w.err != nil {
		return false, w.err
	}
	switch w.state {
	case 0:
		return false, fmt.Errorf("gguf writer: tensor %q written before WriteHeader", name)
	case 2:
		return false, fmt.Errorf("gguf writer: tensor %q written after Close", name)
	}
	if w.next < len(w.tensors) && w.tensors[w.next].info.Name == name {
		return true, nil
	}
	if w.done == 0 && len(data) == 0 {
		for i := w.next - 1; i >= 0 && w.tensors[i].size == 0; i-- {
			if w.tensors[i].info.Name == name {
				return false, nil
			}
		}
	}
	if w.next >= len(w.tensors) {
		return false, fmt.Errorf("gguf writer: tensor %q: all tensors are already written", name)
	}
	return false, fmt.Errorf("gguf writer: expected tensor %q next, got %q", w.tensors[w.next].info.Name, name)
}

// Close checks that the header and every tensor were written. It does not
// close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.state == 0 {
		return fmt.Errorf("gguf writer: closed before WriteHeader")
	}
	w.state = 2
	if w.next < len(w.tensors) {
		return fmt.Errorf("gguf writer: closed with tensor %q (and %d after it) not fully written", w.tensors[w.next].info.Name, len(w.tensors)-w.next-1)
	}
	return nil
}

// encoder writes little-endian GGUF values to a buffered writer; the bufio
// writer keeps the first error and reports it on Flush.
type encoder struct {
	w   *bufio.Writer
	tmp [8]byte
}

func (e *encoder) raw(b []byte) { e.w.Write(b) }
func (e *encoder) u8(v uint8)   { e.w.WriteByte(v) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.tmp[:], v)
	e.w.Write(e.tmp[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.tmp[:], v)
	e.w.Write(e.tmp[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.tmp[:], v)
	e.w.Write(e.tmp[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.w.WriteString(s)
}

func (e *encoder) value(t ValueType, v any) {
	switch t {
	case ValUint8:
		e.u8(v.(uint8))
	case ValInt8:
		e.u8(uint8(v.(int8)))
	case ValUint16:
		e.u16(v.(uint16))
	case ValInt16:
		e.u16(uint16(v.(int16)))
	case ValUint32:
		e.u32(v.(uint32))
	case ValInt32:
		e.u32(uint32(v.(int32)))
	case ValFloat32:
		e.u32(math.Float32bits(v.(float32)))
	case ValBool:
		b := uint8(0)
		if v.(bool) {
			b = 1
		}
		e.u8(b)
	case ValString:
		e.str(v.(string))
	case ValUint64:
		e.u64(v.(uint64))
	case ValInt64:
		e.u64(uint64(v.(int64)))
	case ValFloat64:
		e.u64(math.Float64bits(v.(float64)))
	case ValArray:
		a := v.(Array)
		e.u32(uint32(a.Elem))
		e.u64(uint64(a.Len()))
		e.array(a)
	}
}

func (e *encoder) array(a Array) {
	switch d := a.Data.(type) {
	case []uint8:
		e.raw(d)
	case []int8:
		for _, x := range d {
			e.u8(uint8(x))
		}
	case []uint16:
		for _, x := range d {
			e.u16(x)
		}
	case []int16:
		for _, x := range d {
			e.u16(uint16(x))
		}
	case []uint32:
		for _, x := range d {
			e.u32(x)
		}
	case []int32:
		for _, x := range d {
			e.u32(uint32(x))
		}
	case []float32:
		for _, x := range d {
			e.u32(math.Float32bits(x))
		}
	case []bool:
		for _, x := range d {
			e.value(ValBool, x)
		}
	case []string:
		for _, x := range d {
			e.str(x)
		}
	case []uint64:
		for _, x := range d {
			e.u64(x)
		}
	case []int64:
		for _, x := range d {
			e.u64(uint64(x))
		}
	case []float64:
		for _, x := range d {
			e.u64(math.Float64bits(x))
		}
	case []Array:
		for _, x := range d {
			e.value(ValArray, x)
		}
	}
}
