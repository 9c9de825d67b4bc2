package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/cusprun/cusprun/core/tensor"
)

// Writer streams a safetensors file: the header first (all offsets are known
// from the tensor infos), then each tensor's bytes in the declared order. It
// never holds more than the caller's current chunk.
type Writer struct {
	w       io.Writer
	infos   []tensor.Info // Offset = absolute position in the file
	sizes   []int64
	header  int64 // 8 + N
	next    int   // index of the tensor being written
	done    int64 // bytes of tensor next already written
	written int64 // bytes written to w
	err     error
	closed  bool
}

// NewWriter checks the tensors (unique names, F32/F16/BF16, sane shapes),
// lays them out back to back in the given order (Info.Offset is ignored and
// recomputed), and writes the header to w. The JSON header is padded with
// spaces to a multiple of 8 bytes so that the data starts aligned.
func NewWriter(w io.Writer, tensors []tensor.Info, metadata map[string]string) (*Writer, error) {
	sw := &Writer{w: w}
	seen := map[string]bool{}
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hdr.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, metadata[k])
		}
		hdr.WriteByte('}')
		first = false
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors writer: %q is not a valid tensor name", t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors writer: tensor %q listed twice", t.Name)
		}
		seen[t.Name] = true
		dn, err := dtypeName(t.DType)
		if err != nil {
			return nil, fmt.Errorf("safetensors writer: tensor %q: %w", t.Name, err)
		}
		elems := int64(1)
		for _, d := range t.Shape {
			if d < 0 || (d != 0 && elems > math.MaxInt64/4/int64(d)) {
				return nil, fmt.Errorf("safetensors writer: tensor %q: bad shape %v", t.Name, t.Shape)
			}
			elems *= int64(d)
		}
		n := t.DType.ByteSize(elems)
		if off > math.MaxInt64/2-n {
			return nil, fmt.Errorf("safetensors writer: tensor %q: file too large", t.Name)
		}
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		writeJSONString(&hdr, t.Name)
		fmt.Fprintf(&hdr, `:{"dtype":"%s","shape":[`, dn)
		for i, d := range t.Shape {
			if i > 0 {
				hdr.WriteByte(',')
			}
			fmt.Fprint(&hdr, d)
		}
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, off, off+n)
		info := t
		info.Shape = append([]int(nil), t.Shape...)
		info.Offset = off
		sw.infos = append(sw.infos, info)
		sw.sizes = append(sw.sizes, n)
		off += n
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	if hdr.Len() > MaxHeader {
		return nil, fmt.Errorf("safetensors writer: header of %d bytes is larger than the %d readers accept", hdr.Len(), MaxHeader)
	}
	sw.header = 8 + int64(hdr.Len())
	for i := range sw.infos {
		sw.infos[i].Offset += sw.header
	}
	var lb [8]byte
	binary.LittleEndian.PutUint64(lb[:], uint64(hdr.Len()))
	if err := sw.write(lb[:]); err != nil {
		return nil, err
	}
	if err := sw.write(hdr.Bytes()); err != nil {
		return nil, err
	}
	sw.skipEmpty()
	return sw, nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	j, _ := json.Marshal(s) // a string always marshals
	b.Write(j)
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
		w.err = fmt.Errorf("safetensors writer: %w", err)
	}
	return w.err
}

// skipEmpty moves past zero-byte tensors, which need no WriteTensor call
// (one is still accepted).
func (w *Writer) skipEmpty() {
	for w.next < len(w.sizes) && w.done == w.sizes[w.next] && w.sizes[w.next] == 0 {
		w.next++
	}
}

// Infos returns the tensors with their absolute offsets in the file.
func (w *Writer) Infos() []tensor.Info { return w.infos }

// HeaderSize is 8 plus the JSON header's length: where the data starts.
func (w *Writer) HeaderSize() int64 { return w.header }

// Size is the total size of the file once complete.
func (w *Writer) Size() int64 {
	if len(w.infos) == 0 {
		return w.header
	}
	last := len(w.infos) - 1
	return w.infos[last].Offset + w.sizes[last]
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
		return fmt.Errorf("safetensors writer: tensor %q is partly written with WritePart", name)
	}
	if int64(len(data)) != w.sizes[w.next] {
		return fmt.Errorf("safetensors writer: tensor %q is %d bytes, got %d", name, w.sizes[w.next], len(data))
	}
	return w.WritePart(name, data)
}

// WritePart appends data to the next tensor, which must be name; the tensor is
// complete once all its bytes are written. This lets an exporter stream a
// large tensor a few rows at a time.
func (w *Writer) WritePart(name string, data []byte) error {
	cur, err := w.expect(name, data)
	if err != nil || !cur {
		return err
	}
	if rest := w.sizes[w.next] - w.done; int64(len(data)) > rest {
		return fmt.Errorf("safetensors writer: tensor %q is %d bytes, got %d more than that", name, w.sizes[w.next], int64(len(data))-rest)
	}
	if err := w.write(data); err != nil {
		return err
	}
	w.done += int64(len(data))
	if w.done == w.sizes[w.next] {
		w.next++
		w.done = 0
		w.skipEmpty()
	}
	return nil
}

// expect checks that name is the tensor to write now. cur is false (with no
// error) for an empty tensor already passed over and no data.
func (w *Writer) expect(name string, data []byte) (cur bool, err error) {
	if w.err != nil {
		return false, w.err
	}
	if w.closed {
		return false, fmt.Errorf("safetensors writer: tensor %q written after Close", name)
	}
	if w.next < len(w.infos) && w.infos[w.next].Name == name {
		return true, nil
	}
	if w.done == 0 && len(data) == 0 {
		for i := w.next - 1; i >= 0 && w.sizes[i] == 0; i-- {
			if w.infos[i].Name == name {
				return false, nil
			}
		}
	}
	if w.next >= len(w.infos) {
		return false, fmt.Errorf("safetensors writer: tensor %q: all tensors are already written", name)
	}
	return false, fmt.Errorf("safetensors writer: expected tensor %q next, got %q", w.infos[w.next].Name, name)
}

// Close checks that every tensor was written in full. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.closed = true
	if w.next < len(w.infos) {
		return fmt.Errorf("safetensors writer: closed with tensor %q (and %d after it) not fully written", w.infos[w.next].Name, len(w.infos)-w.next-1)
	}
	return nil
}
