//go:build js && wasm

package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"syscall/js"
)

// promise runs fn in its own goroutine and returns a JS Promise of its
// result. Blocking on a JS promise (Blob reads, WebGPU) is fine in that
// goroutine; inside the js.FuncOf callback itself it would deadlock.
func promise(fn func() (any, error)) js.Value {
	var exec js.Func
	exec = js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer exec.Release()
			defer func() {
				if r := recover(); r != nil {
					println("cusprun: panic:", fmt.Sprint(r), string(debug.Stack()))
					reject.Invoke(jsError(fmt.Errorf("internal error: %v", r)))
				}
			}()
			v, err := fn()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(exec)
}

func jsError(err error) js.Value { return js.Global().Get("Error").New(err.Error()) }

// await blocks the calling goroutine until v (a Promise or any value)
// settles.
func await(v js.Value) (js.Value, error) {
	if v.Type() != js.TypeObject || v.Get("then").Type() != js.TypeFunction {
		return v, nil
	}
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(this js.Value, args []js.Value) any {
		var r js.Value
		if len(args) > 0 {
			r = args[0]
		}
		ch <- result{v: r}
		return nil
	})
	fail := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			if m := args[0].Get("message"); m.Type() == js.TypeString {
				msg = m.String()
			} else {
				msg = args[0].Call("toString").String()
			}
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	v.Call("then", ok, fail)
	r := <-ch
	return r.v, r.err
}

// toJS turns a Go value into plain JS data through JSON.
func toJS(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Undefined(), err
	}
	return js.Global().Get("JSON").Call("parse", string(b)), nil
}

// fromJS decodes plain JS data into a Go value through JSON.
func fromJS(v js.Value, out any) error {
	if v.IsUndefined() || v.IsNull() {
		return nil
	}
	s := js.Global().Get("JSON").Call("stringify", v).String()
	return json.Unmarshal([]byte(s), out)
}

// readBlob reads [off, off+len(p)) of a Blob.
func readBlob(b js.Value, p []byte, off int64) error {
	ab, err := await(b.Call("slice", float64(off), float64(off+int64(len(p)))).Call("arrayBuffer"))
	if err != nil {
		return fmt.Errorf("reading %s: %w", b.Get("name").String(), err)
	}
	u8 := js.Global().Get("Uint8Array").New(ab)
	if n := js.CopyBytesToGo(p, u8); n != len(p) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// blobSource is a source.Source over a Blob or File: every read is a
// Blob.slice, so the file is never loaded whole.
type blobSource struct {
	b    js.Value
	size int64
	name string
}

func newBlobSource(b js.Value, name string) *blobSource {
	return &blobSource{b: b, size: int64(b.Get("size").Float()), name: name}
}

func (s *blobSource) Size() int64  { return s.size }
func (s *blobSource) Name() string { return s.name }

func (s *blobSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := s.size - off; int64(n) > rest {
		n = int(rest)
	}
	if n > 0 {
		if err := readBlob(s.b, p[:n], off); err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// jsWriter writes to a JS sink {write(Uint8Array) -> Promise?}: chunks are
// copied into fresh Uint8Arrays, so the sink may keep them (Blob parts).
type jsWriter struct {
	sink js.Value
	n    int64
	on   func(n int64)
}

func (w *jsWriter) Write(p []byte) (int, error) {
	if _, err := await(w.sink.Call("write", uint8Array(p))); err != nil {
		return 0, fmt.Errorf("writing the expert: %w", err)
	}
	w.n += int64(len(p))
	if w.on != nil {
		w.on(w.n)
	}
	return len(p), nil
}

// f32bytes is v as little-endian bytes, for a Float32Array.
func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// uint8Array is a copy of b in a new JavaScript Uint8Array.
func uint8Array(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}
