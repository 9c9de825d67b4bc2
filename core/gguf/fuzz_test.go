package gguf

import (
	"bytes"
	"testing"
)

// maxFuzzFile bounds a fuzz input: parsing, reading every tensor and writing
// the file back twice stays far below the fuzzer's 10 s limit per input,
// also on a busy machine. The seeds are built once, before f.Fuzz.
const maxFuzzFile = 1 << 16

func FuzzParse(f *testing.F) {
	good, _ := build(f, 0)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(vocabFile(f, 20))
	var b bld
	b.head(2, 0).tinfo("q4k", 12, 0, 256, 2).tinfo("f", 0, 288, 8)
	f.Add(b.data(320))
	f.Add([]byte("GGUF\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzFile {
			return
		}
		pf, err := Parse(mem("fuzz.gguf", data))
		if err != nil {
			return
		}
		for _, tt := range pf.Tensors {
			if tt.Offset < pf.DataStart || tt.Size < 0 || tt.Size > 0 && tt.Offset+tt.Size > int64(len(data)) {
				t.Fatalf("tensor %q [%d,+%d) outside the file", tt.Name, tt.Offset, tt.Size)
			}
			if !tt.Supported() {
				if _, err := tt.ReadRaw(0, tt.Rows()); err == nil {
					t.Fatalf("unsupported %q read", tt.Name)
				}
				continue
			}
			// Q2_K, the densest readable type, holds 256 values in 84 bytes.
			if tt.Elems() > 4*int64(len(data)) {
				t.Fatalf("tensor %q has %d elements in a %d-byte file", tt.Name, tt.Elems(), len(data))
			}
			if tt.RowBytes()*int64(tt.Rows()) != tt.Size || tt.Bytes() != tt.Size {
				t.Fatalf("tensor %q: %d rows of %d bytes, %d bytes in all", tt.Name, tt.Rows(), tt.RowBytes(), tt.Size)
			}
			raw, err := tt.ReadRaw(0, tt.Rows())
			if err != nil || int64(len(raw)) != tt.Size {
				t.Fatalf("ReadRaw %q: %v (%d bytes, size %d)", tt.Name, err, len(raw), tt.Size)
			}
			if err := tt.ReadF32(make([]float32, tt.Elems()), 0, tt.Rows()); err != nil {
				t.Fatalf("ReadF32 %q: %v", tt.Name, err)
			}
		}
		// what parses can be written back, and writing is stable
		once := rewrite(t, pf, data)
		pf2, err := Parse(mem("again.gguf", once))
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if twice := rewrite(t, pf2, once); !bytes.Equal(once, twice) {
			t.Fatalf("rewriting is not stable")
		}
	})
}

func rewrite(t *testing.T, f *File, data []byte) []byte {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetVersion(f.Version)
	for _, kv := range f.KVs {
		if err := w.SetKV(kv); err != nil {
			t.Fatalf("SetKV %q: %v", kv.Key, err)
		}
	}
	for _, tt := range f.Tensors {
		if err := w.AddTensorType(tt.Name, tt.Shape, tt.Type); err != nil {
			t.Fatalf("AddTensorType: %v", err)
		}
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range f.Tensors {
		var b []byte
		if tt.Size > 0 {
			b = data[tt.Offset : tt.Offset+tt.Size]
		}
		if err := w.WriteTensor(tt.Name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
