package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

// rawFile builds a safetensors file from a header text and data size.
func rawFile(header string, data int) []byte {
	b := make([]byte, 8, 8+len(header)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, data)...)
}

func mem(name string, b []byte) source.Source { return &source.Bytes{B: b, Path: name} }

// writeFile uses Writer to make a file with values v[i] = i*scale for each tensor.
func writeFile(t testing.TB, infos []tensor.Info, meta map[string]string) ([]byte, [][]float32) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, infos, meta)
	if err != nil {
		t.Fatal(err)
	}
	var vals [][]float32
	for k, in := range infos {
		v := make([]float32, in.Elems())
		for i := range v {
			v[i] = float32(i%97-40) * 0.25 * float32(k+1)
		}
		vals = append(vals, v)
		data, err := tensor.Encode(nil, v, in.DType)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteTensor(in.Name, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != w.Size() {
		t.Fatalf("Size() = %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes(), vals
}

func TestRoundTrip(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			infos := []tensor.Info{
				{Name: "a.weight", DType: dt, Shape: []int{7, 5}},
				{Name: "empty", DType: dt, Shape: []int{0, 3}},
				{Name: "b.bias", DType: dt, Shape: []int{3}},
				{Name: "c", DType: dt, Shape: []int{2, 3, 4}},
				{Name: "scalar", DType: dt, Shape: []int{}},
			}
			meta := map[string]string{"format": "pt", "note": "q\"uote\n"}
			b, vals := writeFile(t, infos, meta)
			if (binary.LittleEndian.Uint64(b)+8)%8 != 0 {
				t.Fatalf("header not padded to 8 bytes")
			}
			f, err := Parse(mem("x.safetensors", b))
			if err != nil {
				t.Fatal(err)
			}
			if f.Metadata["format"] != "pt" || f.Metadata["note"] != meta["note"] {
				t.Fatalf("metadata %v", f.Metadata)
			}
			if got := strings.Join(f.Names(), ","); got != "a.weight,b.bias,c,empty,scalar" {
				t.Fatalf("names %s", got)
			}
			for k, in := range infos {
				tt, ok := f.Tensor(in.Name)
				if !ok {
					t.Fatalf("%s missing", in.Name)
				}
				if tt.DType != dt || !slices.Equal(tt.Shape, in.Shape) {
					t.Fatalf("%s: got %s %v", in.Name, tt.DType, tt.Shape)
				}
				rows, cols := tt.Rows(), tt.Cols()
				all := make([]float32, rows*cols)
				if err := tt.ReadF32(all, 0, rows); err != nil {
					t.Fatal(err)
				}
				for i := range all {
					if all[i] != vals[k][i] {
						t.Fatalf("%s[%d] = %v want %v", in.Name, i, all[i], vals[k][i])
					}
				}
				if rows >= 3 {
					part := make([]float32, 2*cols)
					if err := tt.ReadF32(part, 1, 2); err != nil {
						t.Fatal(err)
					}
					for i := range part {
						if part[i] != vals[k][cols+i] {
							t.Fatalf("row slice differs at %d", i)
						}
					}
					raw, err := tt.ReadRaw(1, 2)
					if err != nil {
						t.Fatal(err)
					}
					want, _ := tensor.Encode(nil, vals[k][cols:3*cols], dt)
					if !bytes.Equal(raw, want) {
						t.Fatalf("raw rows differ")
					}
				}
			}
		})
	}
}

func TestWriterStreaming(t *testing.T) {
	infos := []tensor.Info{{Name: "big", DType: tensor.F32, Shape: []int{4, 8}}, {Name: "z", DType: tensor.BF16, Shape: []int{0}}}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 32)
	for i := 0; i < 4; i++ {
		if err := w.WritePart("big", row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteTensor("z", nil); err != nil { // optional for empty tensors
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Infos()[0].Offset != w.HeaderSize() {
		t.Fatalf("first offset %d, header %d", w.Infos()[0].Offset, w.HeaderSize())
	}
	f, err := Parse(mem("s", buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if tt, _ := f.Tensor("big"); tt.Offset != w.Infos()[0].Offset {
		t.Fatalf("offset mismatch")
	}
}

func TestWriterErrors(t *testing.T) {
	f32 := func(name string, shape ...int) tensor.Info {
		return tensor.Info{Name: name, DType: tensor.F32, Shape: shape}
	}
	bad := map[string][]tensor.Info{
		"duplicate": {f32("a", 2), f32("a", 2)},
		"q8":        {{Name: "q", DType: tensor.Q8_0, Shape: []int{32}}},
		"negative":  {f32("n", -1)},
		"overflow":  {f32("o", 1<<40, 1<<40)},
		"meta name": {f32("__metadata__", 1)},
		"empty":     {f32("", 1)},
	}
	for name, infos := range bad {
		if _, err := NewWriter(&bytes.Buffer{}, infos, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	w, _ := NewWriter(&bytes.Buffer{}, []tensor.Info{f32("a", 2), f32("b", 2)}, nil)
	if err := w.WriteTensor("b", make([]byte, 8)); err == nil {
		t.Error("out of order accepted")
	}
	if err := w.WriteTensor("a", make([]byte, 7)); err == nil {
		t.Error("short tensor accepted")
	}
	if err := w.WritePart("a", make([]byte, 9)); err == nil {
		t.Error("long part accepted")
	}
	if err := w.WriteTensor("a", make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("incomplete close: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`
	big := make([]byte, 8)
	binary.LittleEndian.PutUint64(big, 1000)
	big = append(big, "{}"...)
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 200_000_000)
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"empty", "empty file", nil},
		{"short", "too short", []byte{1, 2, 3}},
		{"header past end", "past the end", big},
		{"header absurd", "larger than", huge},
		{"invalid json", "invalid JSON", rawFile(`{"a":`, 0)},
		{"not object", "not a JSON object", rawFile(`[1,2]`, 0)},
		{"trailing", "after the top-level", rawFile(`{} {}`, 0)},
		{"unknown dtype", `tensor "a": unknown dtype "F33"`, rawFile(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"unsupported dtype", `tensor "ids": unsupported dtype I64`, rawFile(`{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8)},
		{"no dtype", `tensor "a": no dtype`, rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"no shape", `tensor "a": no shape`, rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4)},
		{"negative dim", `tensor "a": shape`, rawFile(`{"a":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,4]}}`, 4)},
		{"fractional dim", `not a non-negative integer`, rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4)},
		{"overflow dims", "too many elements", rawFile(`{"a":{"dtype":"F32","shape":[1152921504606846976,1152921504606846976],"data_offsets":[0,4]}}`, 4)},
		{"2^60 elements", "needs 4611686018427387904", rawFile(`{"a":{"dtype":"F32","shape":[1152921504606846976],"data_offsets":[0,4]}}`, 4)},
		{"huge dim", "not a non-negative integer", rawFile(`{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}`, 4)},
		{"2^62 elements", "too many elements", rawFile(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}`, 4)},
		{"empty with huge dim", "too many elements", rawFile(`{"a":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}}`, 4)},
		{"offsets mismatch", "needs 16", rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`, 16)},
		{"offsets reversed", "needs 16", rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]}}`, 16)},
		{"offsets one", "data_offsets must be", rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0]}}`, 16)},
		{"offsets negative", "not a non-negative", rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[-16,0]}}`, 16)},
		{"outside file", "past the end of the data", rawFile(ok, 15)},
		{"overlap", "overlap", rawFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, 16)},
		{"bad metadata", "__metadata__", rawFile(`{"__metadata__":{"a":1}}`, 0)},
		{"entry not object", `tensor "a": invalid entry`, rawFile(`{"a":3}`, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(mem("bad.safetensors", c.file))
			if err == nil {
				t.Fatalf("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "bad.safetensors: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line naming the file and containing %q", msg, c.want)
			}
		})
	}
	if _, err := Parse(mem("ok", rawFile(ok, 16))); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	// holes between tensors, trailing bytes and space padding are allowed
	if _, err := Parse(mem("ok", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}   `, 12))); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	b, _ := writeFile(t, []tensor.Info{{Name: "a", DType: tensor.F16, Shape: []int{4, 3}}}, nil)
	f, err := Parse(mem("r", b))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Tensor("a")
	if _, err := a.ReadRaw(3, 2); err == nil {
		t.Error("rows past the end accepted")
	}
	if _, err := a.ReadRaw(-1, 1); err == nil {
		t.Error("negative row accepted")
	}
	if err := a.ReadF32(make([]float32, 5), 0, 2); err == nil {
		t.Error("wrong dst length accepted")
	}
	if raw, err := a.ReadRaw(4, 0); err != nil || len(raw) != 0 {
		t.Errorf("empty read: %v", err)
	}
}

func shardedFolder(t *testing.T, maxBytes int64) (source.Mem, []tensor.Info, [][]float32) {
	infos := []tensor.Info{
		{Name: "embed", DType: tensor.BF16, Shape: []int{10, 4}},
		{Name: "l0.w", DType: tensor.F32, Shape: []int{4, 4}},
		{Name: "l0.n", DType: tensor.F16, Shape: []int{4}},
		{Name: "head", DType: tensor.BF16, Shape: []int{10, 4}},
	}
	plan := planShards(infos, maxBytes)
	folder := source.Mem{}
	wm := map[string]string{}
	var all [][]float32
	var total int64
	for i, group := range plan {
		b, vals := writeFile(t, group, map[string]string{"format": "pt"})
		name := shardName(i, len(plan))
		folder[name] = b
		all = append(all, vals...)
		for _, in := range group {
			wm[in.Name] = name
			total += in.Bytes()
		}
	}
	var ix bytes.Buffer
	if err := writeIndex(&ix, total, wm); err != nil {
		t.Fatal(err)
	}
	folder[IndexName] = ix.Bytes()
	return folder, infos, all
}

func TestSharded(t *testing.T) {
	folder, infos, vals := shardedFolder(t, 100)
	if len(folder) != 4 { // 3 shards + index
		t.Fatalf("folder has %v", folder.Names())
	}
	m, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 3 || m.Metadata["format"] != "pt" {
		t.Fatalf("%d files, metadata %v", len(m.Files), m.Metadata)
	}
	if got := strings.Join(m.Names(), ","); got != "embed,head,l0.n,l0.w" {
		t.Fatal(got)
	}
	for k, in := range infos {
		tt := m.Tensors[in.Name]
		dst := make([]float32, tt.Elems())
		if err := tt.ReadF32(dst, 0, tt.Rows()); err != nil {
			t.Fatal(err)
		}
		for i := range dst {
			if dst[i] != vals[k][i] {
				t.Fatalf("%s differs", in.Name)
			}
		}
	}
	ix, err := ParseIndex(folder[IndexName])
	if err != nil || ix.Metadata["total_size"] == nil {
		t.Fatalf("index: %v %v", err, ix)
	}
}

func TestShardedErrors(t *testing.T) {
	base, _, _ := shardedFolder(t, 100)
	clone := func() source.Mem {
		m := source.Mem{}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	cases := map[string]struct {
		index, want string
		drop        string
	}{
		"missing shard":   {`{"weight_map":{"embed":"model-00009-of-00009.safetensors"}}`, `shard "model-00009-of-00009.safetensors"`, ""},
		"absent tensor":   {`{"weight_map":{"l0.w":"model-00001-of-00003.safetensors"}}`, `tensor "l0.w" is listed in shard model-00001-of-00003.safetensors`, ""},
		"path shard":      {`{"weight_map":{"embed":"../model-00001-of-00003.safetensors"}}`, "not a plain file name", ""},
		"invalid json":    {`{"weight_map":`, "invalid JSON", ""},
		"no weight_map":   {`{"metadata":{}}`, "no weight_map", ""},
		"empty map":       {`{"weight_map":{}}`, "weight_map is empty", ""},
		"shard removed":   {"", "model-00002-of-00003.safetensors", "model-00002-of-00003.safetensors"},
		"corrupted shard": {"", "model-00003-of-00003.safetensors", "corrupt"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := clone()
			if c.index != "" {
				m[IndexName] = []byte(c.index)
			}
			if c.drop == "corrupt" {
				m["model-00003-of-00003.safetensors"] = []byte("garbage!garbage!")
			} else if c.drop != "" {
				delete(m, c.drop)
			}
			_, err := Open(m)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := Open(source.Mem{"config.json": []byte("{}")}); err == nil {
		t.Error("folder without weights accepted")
	}
	if _, err := Open(source.Mem{"a.safetensors": nil, "b.safetensors": nil}); err == nil {
		t.Error("ambiguous folder accepted")
	}
}

func TestOpenSingle(t *testing.T) {
	b, _ := writeFile(t, []tensor.Info{{Name: "w", DType: tensor.F32, Shape: []int{2, 2}}}, nil)
	for _, name := range []string{SingleName, "other.safetensors"} {
		m, err := Open(source.Mem{name: b, "config.json": []byte("{}")})
		if err != nil || len(m.Tensors) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestSharedModel reads the team's small trained model when it is present.
func TestSharedModel(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "models", "tiny-multi")
	if _, err := os.Stat(filepath.Join(dir, SingleName)); err != nil {
		t.Skip("../shared/models/tiny-multi not present")
	}
	folder, err := source.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer folder.(*source.Dir).Close()
	m, err := Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Tensors["model.embed_tokens.weight"]
	if !ok || e.DType != tensor.BF16 || len(e.Shape) != 2 {
		t.Fatalf("embed: %+v", e.Info)
	}
	row := make([]float32, e.Cols())
	if err := e.ReadF32(row, e.Rows()-1, 1); err != nil {
		t.Fatal(err)
	}
	for _, v := range row {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite weight")
		}
	}
}

// TestReadChunks reads a tensor larger than the decode chunk.
func TestReadChunks(t *testing.T) {
	in := []tensor.Info{{Name: "big", DType: tensor.BF16, Shape: []int{700, 1000}}}
	b, vals := writeFile(t, in, nil)
	f, err := Parse(mem("big", b))
	if err != nil {
		t.Fatal(err)
	}
	big, _ := f.Tensor("big")
	dst := make([]float32, 699*1000)
	if err := big.ReadF32(dst, 1, 699); err != nil {
		t.Fatal(err)
	}
	for i := range dst {
		if dst[i] != vals[0][1000+i] {
			t.Fatalf("element %d differs", i)
		}
	}
}
