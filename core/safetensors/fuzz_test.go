package safetensors

import (
	"encoding/binary"
	"testing"

	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// maxFuzzFile bounds a fuzz input: parsing and reading every tensor stays far
// below the fuzzer's 10 s limit per input, also on a busy machine. The seeds
// are built once, before f.Fuzz.
const maxFuzzFile = 1 << 16

func FuzzParse(f *testing.F) {
	good, _ := writeFile(f, []tensor.Info{
		{Name: "a", DType: tensor.BF16, Shape: []int{3, 4}},
		{Name: "b", DType: tensor.F32, Shape: []int{2}},
		{Name: "c", DType: tensor.F16, Shape: []int{1, 2, 2}},
	}, map[string]string{"format": "pt"})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,4]}}`, 4))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8))
	f.Add([]byte{})
	huge := make([]byte, 9)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	f.Add(huge)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzFile {
			return
		}
		pf, err := Parse(&source.Bytes{B: b, Path: "fuzz"})
		if err != nil {
			return
		}
		for _, tt := range pf.Tensors {
			if tt.Offset < pf.DataStart || tt.Offset+tt.Bytes() > int64(len(b)) {
				t.Fatalf("tensor %q [%d,+%d) outside the data", tt.Name, tt.Offset, tt.Bytes())
			}
			if tt.Elems() > int64(len(b)) {
				t.Fatalf("tensor %q has %d elements in a %d-byte file", tt.Name, tt.Elems(), len(b))
			}
			if tt.RowBytes()*int64(tt.Rows()) != tt.Bytes() {
				t.Fatalf("tensor %q: %d rows of %d bytes, %d bytes in all", tt.Name, tt.Rows(), tt.RowBytes(), tt.Bytes())
			}
			raw, err := tt.ReadRaw(0, tt.Rows())
			if err != nil || int64(len(raw)) != tt.Bytes() {
				t.Fatalf("ReadRaw %q: %v", tt.Name, err)
			}
			if err := tt.ReadF32(make([]float32, tt.Elems()), 0, tt.Rows()); err != nil {
				t.Fatalf("ReadF32 %q: %v", tt.Name, err)
			}
		}
	})
}
