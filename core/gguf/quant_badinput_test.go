package gguf

import (
	"strings"
	"testing"
)

// TestQuantBadInput: quantized tensors whose declared blocks do not fit the
// shape or the file are refused at Parse with one line naming the file and
// the tensor; nothing of them is read.
func TestQuantBadInput(t *testing.T) {
	one := func(f func(*bld), n int) []byte {
		var b bld
		b.head(1, 0)
		f(&b)
		return b.data(n)
	}
	two := func(f func(*bld), n int) []byte {
		var b bld
		b.head(2, 0)
		f(&b)
		return b.data(n)
	}
	cases := []struct {
		name, want string
		file       []byte
	}{
		// rows of 300 values are not whole 256-value Q4_K blocks
		{"q4_k partial block", `tensor "w": type Q4_K needs rows of a multiple of 256 elements, got dims [300 2]`,
			one(func(b *bld) { b.tinfo("w", 12, 0, 300, 2) }, 1024)},
		{"q5_0 partial block", `tensor "w": type Q5_0 needs rows of a multiple of 32`,
			one(func(b *bld) { b.tinfo("w", 6, 0, 48, 1) }, 64)},
		// 3 rows of one Q6_K block need 630 bytes, but the next tensor starts
		// at 608: the block count the shape implies does not fit the layout
		{"blocks overlap next", `tensors "w" [0, 630) and "n" [608, 612) overlap`,
			two(func(b *bld) { b.tinfo("w", 14, 0, 256, 3).tinfo("n", 0, 608, 1) }, 640)},
		// 4 Q4_K blocks are 576 bytes; the file holds 500 after the header
		{"truncated q4_k", `tensor "w": data [0, 576) lies outside the file (data section is 500 bytes)`,
			one(func(b *bld) { b.tinfo("w", 12, 0, 256, 4) }, 500)},
		{"truncated q8_0", `tensor "w": data [0, 68) lies outside the file`,
			one(func(b *bld) { b.tinfo("w", 8, 0, 32, 2) }, 67)},
		{"unknown type", `tensor "w": unknown GGML type 99`, one(func(b *bld) { b.tinfo("w", 99, 0, 256) }, 256)},
		{"retired type", `tensor "w": unknown GGML type 5`, one(func(b *bld) { b.tinfo("w", 5, 0, 32) }, 64)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(mem("bad.gguf", c.file))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "bad.gguf: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line naming the file and containing %q", msg, c.want)
			}
		})
	}
}

// TestQuantReadShortFile: a quantized tensor that parsed, read from a source
// that lost its tail since, fails with one line naming the tensor.
func TestQuantReadShortFile(t *testing.T) {
	var b bld
	b.head(1, 0).tinfo("q", 12, 0, 256, 4)
	full := b.data(576)
	f, err := Parse(mem("q.gguf", full))
	if err != nil {
		t.Fatal(err)
	}
	q := f.Tensors[0]
	q.Src = mem("q.gguf", full[:len(full)-100])
	err = q.ReadF32(make([]float32, 4*256), 0, 4)
	if err == nil || !strings.Contains(err.Error(), `tensor "q"`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("read of a cut Q4_K tensor: %v", err)
	}
}
