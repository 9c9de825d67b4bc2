package tensor

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// memFile is a File over bytes; failAt, when positive, makes reads that
// reach that offset fail, as a truncated or failing disk would.
type memFile struct {
	b      []byte
	failAt int64
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if m.failAt > 0 && off+int64(len(p)) > m.failAt {
		return 0, errors.New("disk error")
	}
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m *memFile) Size() int64  { return int64(len(m.b)) }
func (m *memFile) Name() string { return "mem" }

// matrixFile puts a rows x cols F32 matrix with element (r, c) = 1000r + c
// after a header of pad bytes.
func matrixFile(t *testing.T, pad, rows, cols int, d DType) (*memFile, Info) {
	t.Helper()
	v := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			v[r*cols+c] = float32(1000*r + c)
		}
	}
	b, err := Encode(make([]byte, pad), v, d)
	if err != nil {
		t.Fatal(err)
	}
	return &memFile{b: b}, Info{Name: "m", DType: d, Shape: []int{rows, cols}, Offset: int64(pad)}
}

// TestReadRows reads row ranges of a matrix stored after a header and
// checks every value against its (row, col) formula.
func TestReadRows(t *testing.T) {
	f, in := matrixFile(t, 7, 5, 3, F32)
	raw, err := ReadRaw(f, in, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 24 || string(raw) != string(f.b[7+12:7+36]) {
		t.Errorf("ReadRaw rows [1,3) = % x, want bytes 19..43 of the file", raw)
	}
	dst := make([]float32, 6)
	if err := ReadF32(f, in, dst, 3, 2); err != nil {
		t.Fatal(err)
	}
	want := []float32{3000, 3001, 3002, 4000, 4001, 4002}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("ReadF32 rows [3,5) = %v, want %v", dst, want)
		}
	}
	if b, err := ReadRaw(f, in, 5, 0); err != nil || len(b) != 0 {
		t.Errorf("zero rows at the end: %v, %v", b, err)
	}
	// BF16 holds these integers exactly below 256 only: use a small matrix.
	g, gin := matrixFile(t, 2, 1, 4, BF16)
	d4 := make([]float32, 4)
	if err := ReadF32(g, gin, d4, 0, 1); err != nil || d4[0] != 0 || d4[3] != 3 {
		t.Errorf("BF16 row: %v, %v", d4, err)
	}
}

// TestReadRowsChunks reads a tensor larger than the scratch buffer, so
// ReadF32 decodes through several chunks, and checks every element.
func TestReadRowsChunks(t *testing.T) {
	rows, cols := 700, 1024 // 4 KiB rows: 256 per 1 MiB chunk, three chunks
	f, in := matrixFile(t, 5, rows, cols, F32)
	dst := make([]float32, (rows-3)*cols)
	if err := ReadF32(f, in, dst, 3, rows-3); err != nil {
		t.Fatal(err)
	}
	for r := 3; r < rows; r++ {
		for c := 0; c < cols; c += 97 {
			if got, want := dst[(r-3)*cols+c], float32(1000*r+c); got != want {
				t.Fatalf("(%d, %d) = %g, want %g", r, c, got, want)
			}
		}
	}
}

// TestReadRowsErrors: ranges outside the tensor, tensors running past the
// file, short reads, wrong buffers: each an error naming the tensor.
func TestReadRowsErrors(t *testing.T) {
	f, in := matrixFile(t, 0, 4, 2, F32)
	for _, r := range [][2]int{{-1, 1}, {0, 5}, {3, 2}, {5, 0}, {0, -1}} {
		if _, err := ReadRaw(f, in, r[0], r[1]); err == nil || !strings.Contains(err.Error(), `"m"`) {
			t.Errorf("ReadRaw rows %v: %v", r, err)
		}
		if err := ReadF32(f, in, make([]float32, max(r[1], 0)*2), r[0], r[1]); err == nil {
			t.Errorf("ReadF32 rows %v succeeded", r)
		}
	}
	if err := ReadF32(f, in, make([]float32, 3), 0, 2); err == nil {
		t.Error("ReadF32 into a buffer of the wrong size succeeded")
	}
	past := in
	past.Offset = 4 // the last row runs 4 bytes past the end
	if _, err := ReadRaw(f, past, 3, 1); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("ReadRaw past the end: %v", err)
	}
	if err := ReadF32(f, past, make([]float32, 8), 0, 4); err == nil {
		t.Error("ReadF32 past the end succeeded")
	}
	bad := &memFile{b: f.b, failAt: 16}
	if _, err := ReadRaw(bad, in, 1, 2); err == nil || !strings.Contains(err.Error(), "disk error") {
		t.Errorf("ReadRaw over a failing read: %v", err)
	}
	if err := ReadF32(bad, in, make([]float32, 8), 0, 4); err == nil {
		t.Error("ReadF32 over a failing read succeeded")
	}
}
