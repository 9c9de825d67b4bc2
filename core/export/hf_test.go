package export

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/safetensors"
	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// twoTensors is a tiny tensor list and data that encodes each element as
// its index plus a per-tensor base.
func twoTensors() ([]tensor.Info, TensorData) {
	infos := []tensor.Info{
		{Name: "a.weight", DType: tensor.F32, Shape: []int{2, 3}},
		{Name: "b.bias", DType: tensor.BF16, Shape: []int{4}},
	}
	return infos, func(in tensor.Info) ([]byte, error) {
		v := make([]float32, in.Elems())
		base := float32(0)
		if in.Name == "b.bias" {
			base = 100
		}
		for i := range v {
			v[i] = base + float32(i)
		}
		return tensor.Encode(nil, v, in.DType)
	}
}

// TestHFDir writes a folder and reads it back: the small files as given,
// every tensor with its dtype, shape and values, plain folder and file
// permissions, nothing left beside it.
func TestHFDir(t *testing.T) {
	parent := t.TempDir()
	final := filepath.Join(parent, "expert")
	infos, data := twoTensors()
	files := []File{{Name: "config.json", Data: []byte(`{"a":1}`)}, {Name: "tokenizer.json", Data: []byte("{}")}}
	if err := HFDir(final, files, infos, data); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if b, err := os.ReadFile(filepath.Join(final, f.Name)); err != nil || string(b) != string(f.Data) {
			t.Errorf("%s holds %q (%v), want %q", f.Name, b, err, f.Data)
		}
	}
	src, err := source.OpenFile(filepath.Join(final, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, err := safetensors.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		got, ok := st.Tensor(in.Name)
		if !ok || got.DType != in.DType || !slices.Equal(got.Shape, in.Shape) {
			t.Fatalf("%s: found %v as %+v", in.Name, ok, got.Info)
		}
		v := make([]float32, in.Elems())
		if err := got.ReadF32(v, 0, got.Rows()); err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			want := float32(i)
			if in.Name == "b.bias" {
				want += 100
			}
			if x != want {
				t.Errorf("%s[%d] = %g, want %g", in.Name, i, x, want)
			}
		}
	}
	fileMode, dirMode := umaskModes(t)
	if s, _ := os.Stat(final); s.Mode().Perm() != dirMode {
		t.Errorf("folder mode %v, a plain mkdir gives %v", s.Mode().Perm(), dirMode)
	}
	if s, _ := os.Stat(filepath.Join(final, "model.safetensors")); s.Mode().Perm() != fileMode {
		t.Errorf("model.safetensors mode %v", s.Mode().Perm())
	}
	if left := leftovers(t, parent, "expert"); len(left) != 0 {
		t.Errorf("left beside the output: %v", left)
	}
}

// TestHFDirFailure: a tensor that cannot be produced leaves nothing at the
// path and no staging folder.
func TestHFDirFailure(t *testing.T) {
	parent := t.TempDir()
	final := filepath.Join(parent, "expert")
	infos, data := twoTensors()
	fail := func(in tensor.Info) ([]byte, error) {
		if in.Name == "b.bias" {
			return nil, errors.New("cannot read b.bias")
		}
		return data(in)
	}
	err := HFDir(final, []File{{Name: "config.json", Data: []byte("{}")}}, infos, fail)
	if err == nil || !strings.Contains(err.Error(), "b.bias") {
		t.Fatalf("error %v does not name the failing tensor", err)
	}
	if _, err := os.Lstat(final); !os.IsNotExist(err) {
		t.Errorf("something is at the output path (%v)", err)
	}
	if left := leftovers(t, parent); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	// data of the wrong size is refused too
	short := func(in tensor.Info) ([]byte, error) { b, _ := data(in); return b[:len(b)-1], nil }
	if err := HFDir(final, nil, infos, short); err == nil {
		t.Error("a tensor one byte short was written")
	}
	if left := leftovers(t, parent); len(left) != 0 {
		t.Errorf("left behind after a short tensor: %v", left)
	}
}
