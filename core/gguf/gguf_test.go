package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/source"
	"github.com/cusprun/cusprun/core/tensor"
)

func mem(name string, b []byte) source.Source { return &source.Bytes{B: b, Path: name} }

// bld assembles raw GGUF bytes for hand-made (often broken) files.
type bld struct{ bytes.Buffer }

func (b *bld) u32(v uint32) *bld { binary.Write(&b.Buffer, binary.LittleEndian, v); return b }
func (b *bld) u64(v uint64) *bld { binary.Write(&b.Buffer, binary.LittleEndian, v); return b }
func (b *bld) str(s string) *bld { b.u64(uint64(len(s))); b.WriteString(s); return b }
func (b *bld) head(nt, nkv uint64) *bld {
	b.WriteString("GGUF")
	return b.u32(3).u64(nt).u64(nkv)
}

// tinfo appends a tensor info with GGUF-order dims.
func (b *bld) tinfo(name string, typ uint32, off uint64, dims ...uint64) *bld {
	b.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(typ).u64(off)
}

// pad pads to 32 and appends n data bytes.
func (b *bld) data(n int) []byte {
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, n))
	return b.Bytes()
}

// allKinds is metadata of every GGUF type, as Parse returns it.
func allKinds() []KV {
	return []KV{
		{"general.architecture", ValString, "llama"},
		{"u8", ValUint8, uint8(200)},
		{"i8", ValInt8, int8(-100)},
		{"u16", ValUint16, uint16(60000)},
		{"i16", ValInt16, int16(-30000)},
		{"u32", ValUint32, uint32(4000000000)},
		{"i32", ValInt32, int32(-2000000000)},
		{"f32", ValFloat32, float32(1e-5)},
		{"bool", ValBool, true},
		{"str", ValString, "héllo\x00world"},
		{"u64", ValUint64, uint64(1 << 63)},
		{"i64", ValInt64, int64(-1 << 62)},
		{"f64", ValFloat64, 1e300},
		{"a.u8", ValArray, Array{ValUint8, []uint8{1, 2, 255}}},
		{"a.i8", ValArray, Array{ValInt8, []int8{-1, 2}}},
		{"a.u16", ValArray, Array{ValUint16, []uint16{1, 65535}}},
		{"a.i16", ValArray, Array{ValInt16, []int16{-1, 2}}},
		{"a.u32", ValArray, Array{ValUint32, []uint32{1, 1 << 31}}},
		{"a.i32", ValArray, Array{ValInt32, []int32{-5, 1, 3}}},
		{"a.f32", ValArray, Array{ValFloat32, []float32{0.5, -1e10}}},
		{"a.bool", ValArray, Array{ValBool, []bool{true, false, true}}},
		{"a.str", ValArray, Array{ValString, []string{"a", "", "ĠHello"}}},
		{"a.u64", ValArray, Array{ValUint64, []uint64{1 << 63}}},
		{"a.i64", ValArray, Array{ValInt64, []int64{-1, 1 << 40}}},
		{"a.f64", ValArray, Array{ValFloat64, []float64{math.Pi}}},
		{"a.empty", ValArray, Array{ValString, []string{}}},
		{"a.nested", ValArray, Array{ValArray, []Array{
			{ValInt32, []int32{1, 2}},
			{ValString, []string{"x"}},
			{ValArray, []Array{{ValFloat32, []float32{1}}}},
		}}},
	}
}

type wtest struct {
	info tensor.Info
	vals []float32
}

// build writes a GGUF with allKinds metadata and tensors of every readable type.
func build(t testing.TB, align uint32) ([]byte, []wtest) {
	t.Helper()
	w := NewWriter(nil)
	var out bytes.Buffer
	w.w = &out
	for _, kv := range allKinds() {
		if err := w.SetKV(kv); err != nil {
			t.Fatal(err)
		}
	}
	if align != 0 {
		w.SetUint32("general.alignment", align)
	}
	infos := []tensor.Info{
		{Name: "token_embd.weight", DType: tensor.BF16, Shape: []int{5, 6}},
		{Name: "blk.0.attn_q.weight", DType: tensor.Q8_0, Shape: []int{3, 64}},
		{Name: "blk.0.ffn_norm.weight", DType: tensor.F32, Shape: []int{6}},
		{Name: "empty", DType: tensor.F32, Shape: []int{0, 4}},
		{Name: "blk.0.ffn_up.weight", DType: tensor.F16, Shape: []int{2, 3, 4}},
		{Name: "four", DType: tensor.F32, Shape: []int{2, 1, 3, 2}},
	}
	var ts []wtest
	for k, in := range infos {
		if err := w.AddTensor(in); err != nil {
			t.Fatal(err)
		}
		v := make([]float32, in.Elems())
		for i := range v {
			v[i] = float32((i*7+k)%23-11) * 0.5
		}
		ts = append(ts, wtest{in, v})
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		b, err := tensor.Encode(nil, x.vals, x.info.DType)
		if err != nil {
			t.Fatal(err)
		}
		if x.info.DType == tensor.Q8_0 { // expected values are what Q8_0 keeps
			tensor.Decode(x.vals, b, tensor.Q8_0)
		}
		if err := w.WriteTensor(x.info.Name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(out.Len()) != w.Size() {
		t.Fatalf("Size %d, wrote %d", w.Size(), out.Len())
	}
	return out.Bytes(), ts
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 64, 1} {
		t.Run(fmt.Sprint("align", align), func(t *testing.T) {
			b, ts := build(t, align)
			f, err := Parse(mem("m.gguf", b))
			if err != nil {
				t.Fatal(err)
			}
			want := allKinds()
			if align != 0 {
				want = append(want, KV{"general.alignment", ValUint32, align})
				if f.Alignment != int64(align) {
					t.Fatalf("alignment %d", f.Alignment)
				}
			}
			if !reflect.DeepEqual(f.KVs, want) {
				t.Fatalf("metadata differs:\n%v\n%v", f.KVs, want)
			}
			if f.Version != 3 || f.DataStart%f.Alignment != 0 {
				t.Fatalf("version %d data start %d", f.Version, f.DataStart)
			}
			if len(f.Tensors) != len(ts) {
				t.Fatalf("%d tensors", len(f.Tensors))
			}
			for i, x := range ts {
				tt := f.Tensors[i]
				if tt.Name != x.info.Name || tt.DType != x.info.DType || !reflect.DeepEqual(tt.Shape, x.info.Shape) {
					t.Fatalf("tensor %d: %v %s %v, want %v", i, tt.Name, tt.DType, tt.Shape, x.info)
				}
				if (tt.Offset-f.DataStart)%f.Alignment != 0 {
					t.Fatalf("%s unaligned", tt.Name)
				}
				all := make([]float32, tt.Elems())
				if err := tt.ReadF32(all, 0, tt.Rows()); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(all, x.vals) {
					t.Fatalf("%s: values %v want %v", tt.Name, all, x.vals)
				}
				if r := tt.Rows(); r >= 2 {
					c := tt.Cols()
					part := make([]float32, c)
					if err := tt.ReadF32(part, r-1, 1); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(part, x.vals[(r-1)*c:]) {
						t.Fatalf("%s: last row differs", tt.Name)
					}
					raw, err := tt.ReadRaw(1, 1)
					if err != nil || int64(len(raw)) != tt.RowBytes() {
						t.Fatalf("raw row: %v", err)
					}
				}
			}
		})
	}
}

// TestShapeOrder checks that GGUF dims (fastest first) become Shape slowest first.
func TestShapeOrder(t *testing.T) {
	var b bld
	b.head(1, 0).tinfo("w", 0, 0, 4, 3) // ne0 = 4 columns, ne1 = 3 rows
	f, err := Parse(mem("s.gguf", b.data(48)))
	if err != nil {
		t.Fatal(err)
	}
	w := f.Tensors[0]
	if !reflect.DeepEqual(w.Shape, []int{3, 4}) || w.Rows() != 3 || w.Cols() != 4 || w.Size != 48 {
		t.Fatalf("shape %v rows %d cols %d size %d", w.Shape, w.Rows(), w.Cols(), w.Size)
	}
	// and the writer writes them back in GGUF order
	var out bytes.Buffer
	wr := NewWriter(&out)
	wr.AddTensor(w.Info)
	wr.WriteHeader()
	wr.WriteTensor("w", make([]byte, 48))
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes()[:b.Len()], b.Bytes()) || out.Len()%32 != 0 {
		t.Fatalf("rewritten file differs:\n%x\n%x", out.Bytes(), b.Bytes())
	}
}

func TestAccessors(t *testing.T) {
	b, _ := build(t, 0)
	f, err := Parse(mem("m.gguf", b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Arch() != "llama" {
		t.Fatal("arch")
	}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v want %v", name, got, want)
		}
	}
	s, ok := f.String("str")
	check("String", []any{s, ok}, []any{"héllo\x00world", true})
	_, ok = f.String("u8")
	check("String of u8", ok, false)
	u, ok := f.Uint("u16")
	check("Uint u16", []any{u, ok}, []any{uint64(60000), true})
	u, ok = f.Uint("u64")
	check("Uint u64", []any{u, ok}, []any{uint64(1 << 63), true})
	_, ok = f.Uint("i8")
	check("Uint negative", ok, false)
	_, ok = f.Uint("f32")
	check("Uint float", ok, false)
	i, ok := f.Int("i32")
	check("Int", []any{i, ok}, []any{int64(-2000000000), true})
	_, ok = f.Int("u64")
	check("Int too big", ok, false)
	fl, ok := f.Float("f32")
	check("Float", []any{fl, ok}, []any{float64(float32(1e-5)), true})
	fl, ok = f.Float("u32")
	check("Float of int", []any{fl, ok}, []any{4e9, true})
	bo, ok := f.Bool("bool")
	check("Bool", []any{bo, ok}, []any{true, true})
	_, ok = f.Bool("missing")
	check("missing", ok, false)
	ss, ok := f.Strings("a.str")
	check("Strings", []any{ss, ok}, []any{[]string{"a", "", "ĠHello"}, true})
	_, ok = f.Strings("a.i32")
	check("Strings of ints", ok, false)
	is, ok := f.Ints("a.u16")
	check("Ints", []any{is, ok}, []any{[]int64{1, 65535}, true})
	_, ok = f.Ints("a.u64")
	check("Ints overflow", ok, false)
	i32, ok := f.Int32s("a.i32")
	check("Int32s", []any{i32, ok}, []any{[]int32{-5, 1, 3}, true})
	i32, ok = f.Int32s("a.i8")
	check("Int32s from i8", []any{i32, ok}, []any{[]int32{-1, 2}, true})
	_, ok = f.Int32s("a.u32")
	check("Int32s overflow", ok, false)
	f32, ok := f.Float32s("a.f32")
	check("Float32s", []any{f32, ok}, []any{[]float32{0.5, -1e10}, true})
	f32, ok = f.Float32s("a.i32")
	check("Float32s from ints", []any{f32, ok}, []any{[]float32{-5, 1, 3}, true})
	a, ok := f.Array("a.nested")
	check("nested", []any{a.Len(), ok}, []any{3, true})
	if names := f.Names(); names[0] != "blk.0.attn_q.weight" || len(names) != 6 {
		t.Errorf("names %v", names)
	}
	if _, ok := f.Tensor("four"); !ok {
		t.Error("Tensor lookup")
	}
}

func TestWriterMisuse(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if err := w.Set("x", 3); err == nil {
		t.Error("plain int accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	if err := w.Set("x", Array{ValInt32, []string{"a"}}); err == nil {
		t.Error("mismatched array accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	if err := w.Set("", "v"); err == nil {
		t.Error("empty key accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	if err := w.AddTensor(tensor.Info{Name: "q", DType: tensor.Q8_0, Shape: []int{2, 33}}); err == nil {
		t.Error("Q8_0 row of 33 accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	if err := w.AddTensor(tensor.Info{Name: "q", DType: tensor.F32, Shape: []int{1, 1, 1, 1, 1}}); err == nil {
		t.Error("5 dims accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	w.AddTensor(tensor.Info{Name: "a", DType: tensor.F32, Shape: []int{2}})
	if err := w.AddTensor(tensor.Info{Name: "a", DType: tensor.F32, Shape: []int{2}}); err == nil {
		t.Error("duplicate tensor accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	w.Set("general.alignment", uint64(32))
	if err := w.WriteHeader(); err == nil {
		t.Error("uint64 alignment accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	w.AddTensor(tensor.Info{Name: "a", DType: tensor.F32, Shape: []int{2}})
	w.AddTensor(tensor.Info{Name: "b", DType: tensor.F32, Shape: []int{2}})
	if err := w.WriteTensor("a", make([]byte, 8)); err == nil {
		t.Error("tensor before header accepted")
	}
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	w.SetString("late", "x")
	if err := w.Set("late", "x"); err == nil {
		t.Error("metadata after header accepted")
	}
	w = NewWriter(&bytes.Buffer{})
	w.AddTensor(tensor.Info{Name: "a", DType: tensor.F32, Shape: []int{2}})
	w.AddTensor(tensor.Info{Name: "b", DType: tensor.F32, Shape: []int{2}})
	w.WriteHeader()
	if err := w.WriteTensor("b", make([]byte, 8)); err == nil {
		t.Error("out of order accepted")
	}
	if err := w.WriteTensor("a", make([]byte, 4)); err == nil {
		t.Error("short tensor accepted")
	}
	if err := w.WritePart("a", make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePart("a", make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("early close: %v", err)
	}
}

func TestWriterReplaceDelete(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetString("a", "1")
	w.SetUint32("b", 2)
	w.SetString("c", "3")
	w.SetFloat32s("a", []float32{1}) // replaced in place, new type
	w.Delete("b")
	w.Delete("nope")
	w.SetInt32s("d", []int32{4})
	w.SetStrings("e", []string{"x", "y"})
	w.SetBool("f", false)
	w.Set("g", uint8(1))
	w.Set("h", int64(-1))
	w.Set("i", float64(2))
	w.Set("j", []uint32{1})
	w.Set("k", []int64{1})
	w.Set("l", []bool{true})
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(mem("r", out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range f.KVs {
		keys = append(keys, kv.Key)
	}
	if strings.Join(keys, ",") != "a,c,d,e,f,g,h,i,j,k,l" || f.KVs[0].Type != ValArray {
		t.Fatalf("keys %v %v", keys, f.KVs[0])
	}
	if len(f.Tensors) != 0 || f.DataStart != int64(out.Len()) {
		t.Fatalf("no-tensor file: data start %d, size %d", f.DataStart, out.Len())
	}
}

func TestUnsupportedType(t *testing.T) {
	// IQ2_XXS (16): 66 bytes per 256 values, known by size but not read.
	var b bld
	b.head(2, 0).tinfo("iq2", 16, 0, 256, 2).tinfo("f", 0, 160, 8)
	f, err := Parse(mem("k.gguf", b.data(160+32)))
	if err != nil {
		t.Fatal(err)
	}
	q := f.Tensors[0]
	if q.Supported() || q.Size != 132 || q.Type.String() != "IQ2_XXS" {
		t.Fatalf("%+v", q)
	}
	_, err = q.ReadRaw(0, 1)
	if err == nil || !strings.Contains(err.Error(), `"iq2"`) || !strings.Contains(err.Error(), "(16)") {
		t.Fatalf("read error %v", err)
	}
	if err := q.ReadF32(make([]float32, 256), 0, 1); err == nil {
		t.Fatal("ReadF32 of IQ2_XXS accepted")
	}
	if err := f.Tensors[1].ReadF32(make([]float32, 8), 0, 1); err != nil {
		t.Fatal(err)
	}
}

func TestParseErrors(t *testing.T) {
	valid := func() *bld {
		var b bld
		b.head(1, 1).str("general.architecture").u32(uint32(ValString)).str("llama").tinfo("w", 0, 0, 4, 2)
		return &b
	}
	if _, err := Parse(mem("ok.gguf", valid().data(32))); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	huge := uint64(1) << 60
	kv := func(key string, typ ValueType, rest func(b *bld)) []byte {
		var b bld
		b.head(0, 1).str(key).u32(uint32(typ))
		rest(&b)
		return b.Bytes()
	}
	ten := func(rest func(b *bld), data int) []byte {
		var b bld
		b.head(1, 0)
		rest(&b)
		return b.data(data)
	}
	ten2 := func(rest func(b *bld), data int) []byte {
		var b bld
		b.head(2, 0)
		rest(&b)
		return b.data(data)
	}
	be := func() []byte {
		var b bld
		b.WriteString("GGUF")
		b.u32(3 << 24).u64(0).u64(0)
		return b.Bytes()
	}
	ver := func(v uint32) []byte {
		var b bld
		b.WriteString("GGUF")
		b.u32(v).u64(0).u64(0)
		return b.Bytes()
	}
	nested := func(b *bld) {
		for range 20 {
			b.u32(uint32(ValArray)).u64(1)
		}
		b.u32(uint32(ValUint8)).u64(0)
	}
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"empty", "empty file", nil},
		{"short", "too short", []byte("GG")},
		{"bad magic", "bad magic", []byte("GGML\x03\x00\x00\x00")},
		{"v1", "version 1", ver(1)},
		{"v4", "unsupported GGUF version 4", ver(4)},
		{"big endian", "big-endian", be()},
		{"header truncated", "truncated", []byte("GGUF\x03\x00\x00\x00\x00")},
		{"kv count", "metadata count 1152921504606846976", (&bld{}).head(0, huge).Bytes()},
		{"tensor count", "tensor count 1152921504606846976", (&bld{}).head(huge, 0).Bytes()},
		{"key length", "string length 1152921504606846976", (&bld{}).head(0, 1).u64(huge).u64(0).u64(0).Bytes()},
		{"string length", `metadata "k": string length`, kv("k", ValString, func(b *bld) { b.u64(huge) })},
		{"array length", `metadata "k": array length 1152921504606846976`, kv("k", ValArray, func(b *bld) { b.u32(uint32(ValUint32)).u64(huge) })},
		{"bool array length", `array length`, kv("k", ValArray, func(b *bld) { b.u32(uint32(ValBool)).u64(huge) })},
		{"string array length", `array length`, kv("k", ValArray, func(b *bld) { b.u32(uint32(ValString)).u64(huge) })},
		{"string in array", `string length`, kv("k", ValArray, func(b *bld) { b.u32(uint32(ValString)).u64(1).u64(huge) })},
		{"nested array length", `array length`, kv("k", ValArray, func(b *bld) { b.u32(uint32(ValArray)).u64(huge) })},
		{"nested too deep", "nested deeper", kv("k", ValArray, nested)},
		{"value type", `metadata "k": unknown value type 13`, kv("k", 13, func(b *bld) { b.u64(0) })},
		{"elem type", `unknown array element type 99`, kv("k", ValArray, func(b *bld) { b.u32(99).u64(0) })},
		{"value truncated", `metadata "k": truncated`, kv("k", ValUint64, func(b *bld) { b.u32(1) })},
		{"array truncated", `metadata "k": array length 3 cannot fit`, kv("k", ValArray, func(b *bld) { b.u32(uint32(ValUint16)).u64(3).u32(0) })},
		{"empty key", "empty key", kv("", ValUint8, func(b *bld) { b.u64(1) })},
		{"duplicate key", `"a" appears twice`, func() []byte {
			var b bld
			b.head(0, 2).str("a").u32(uint32(ValUint8)).Write([]byte{1})
			b.str("a").u32(uint32(ValUint8)).Write([]byte{1})
			return b.Bytes()
		}()},
		{"alignment", "general.alignment 48", kv("general.alignment", ValUint32, func(b *bld) { b.u32(48) })},
		{"alignment zero", "not a uint32 power of two", kv("general.alignment", ValUint32, func(b *bld) { b.u32(0) })},
		{"alignment string", "not a uint32 power of two", kv("general.alignment", ValString, func(b *bld) { b.str("32") })},
		{"n_dims", `tensor "w": 5 dimensions`, ten(func(b *bld) { b.tinfo("w", 0, 0, 1, 1, 1, 1, 1) }, 32)},
		{"dims overflow", `tensor "w": dims [1099511627776 1099511627776] have too many`, ten(func(b *bld) { b.tinfo("w", 0, 0, 1<<40, 1<<40) }, 32)},
		{"dim 2^63", `tensor "w": dims`, ten(func(b *bld) { b.tinfo("w", 0, 0, 1<<63) }, 32)},
		{"bytes overflow", `tensor "w": dims`, ten(func(b *bld) { b.tinfo("w", 0, 0, 1<<62) }, 32)},
		{"dims 2^60", `tensor "w": dims`, ten(func(b *bld) { b.tinfo("w", 0, 0, 1<<60) }, 32)},
		{"empty with huge dim", `tensor "w": dims`, ten(func(b *bld) { b.tinfo("w", 0, 0, 1<<62, 0) }, 32)},
		{"unknown type", `tensor "w": unknown GGML type 4`, ten(func(b *bld) { b.tinfo("w", 4, 0, 32) }, 32)},
		{"q8 row", `tensor "q": type Q8_0 needs rows of a multiple of 32`, ten(func(b *bld) { b.tinfo("q", 8, 0, 33, 2) }, 96)},
		{"unaligned", `tensor "w": offset 4 is not a multiple of the alignment 32`, ten(func(b *bld) { b.tinfo("w", 0, 4, 2) }, 64)},
		{"outside", `tensor "w": data [32, 48) lies outside`, ten(func(b *bld) { b.tinfo("w", 0, 32, 4) }, 32)},
		{"offset 2^63", `tensor "w": offset`, ten(func(b *bld) { b.tinfo("w", 0, 1<<63, 4) }, 32)},
		{"offset 2^62", `tensor "w": offset`, ten(func(b *bld) { b.tinfo("w", 0, 1<<62, 4) }, 32)},
		{"no data", `tensor "w": data [0, 16) lies outside`, (&bld{}).head(1, 0).tinfo("w", 0, 0, 4).Bytes()},
		{"overlap", `tensors "a" [0, 64) and "b" [32, 48) overlap`, ten2(func(b *bld) { b.tinfo("a", 0, 0, 16).tinfo("b", 0, 32, 4) }, 64)},
		{"duplicate tensor", `tensor "a" appears twice`, ten2(func(b *bld) { b.tinfo("a", 0, 0, 4).tinfo("a", 0, 32, 4) }, 64)},
		{"tensor name truncated", `tensor info 0: name: string length`, (&bld{}).head(1, 0).u64(100).u64(0).u64(0).u64(0).Bytes()},
		{"tensor info truncated", `tensor "w": truncated`, (&bld{}).head(1, 0).str("w").u32(4).u64(4).u64(4).Bytes()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(mem("bad.gguf", c.file))
			if err == nil {
				t.Fatalf("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "bad.gguf: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line naming the file and containing %q", msg, c.want)
			}
		})
	}
}

// TestTruncatedEverywhere cuts a valid file at every length.
func TestTruncatedEverywhere(t *testing.T) {
	b, _ := build(t, 0)
	f, err := Parse(mem("m", b))
	if err != nil {
		t.Fatal(err)
	}
	// the last tensor's data ends before the final padding
	last := f.Tensors[len(f.Tensors)-1]
	end := int(last.Offset + last.Size)
	for n := 0; n < end; n++ {
		_, err := Parse(mem("cut.gguf", b[:n]))
		if err == nil {
			t.Fatalf("file cut at %d of %d accepted", n, len(b))
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "cut.gguf: ") {
			t.Fatalf("cut at %d: %q", n, err)
		}
	}
}

func TestReadErrors(t *testing.T) {
	b, _ := build(t, 0)
	f, _ := Parse(mem("m", b))
	tt, _ := f.Tensor("token_embd.weight")
	if _, err := tt.ReadRaw(4, 2); err == nil {
		t.Error("rows past the end accepted")
	}
	if err := tt.ReadF32(make([]float32, 5), 0, 1); err == nil {
		t.Error("wrong dst accepted")
	}
}

// vocabFile builds a GGUF shaped like a 150k-token BPE vocabulary.
func vocabFile(t testing.TB, n int) []byte {
	tokens := make([]string, n)
	merges := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("Ġtok%d", i)
		merges[i] = fmt.Sprintf("Ġt ok%d", i)
		scores[i] = -float32(i)
		types[i] = 1
	}
	var out bytes.Buffer
	w := NewWriter(&out)
	w.SetString("general.architecture", "qwen2")
	w.SetString("tokenizer.ggml.model", "gpt2")
	w.SetStrings("tokenizer.ggml.tokens", tokens)
	w.SetFloat32s("tokenizer.ggml.scores", scores)
	w.SetInt32s("tokenizer.ggml.token_type", types)
	w.SetStrings("tokenizer.ggml.merges", merges)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestVocabSpeed(t *testing.T) {
	b := vocabFile(t, 150_000)
	start := time.Now()
	f, err := Parse(mem("vocab.gguf", b))
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	sc, _ := f.Float32s("tokenizer.ggml.scores")
	ty, _ := f.Int32s("tokenizer.ggml.token_type")
	if len(toks) != 150_000 || toks[149_999] != "Ġtok149999" || sc[7] != -7 || ty[3] != 1 {
		t.Fatal("vocab content")
	}
	t.Logf("parsed a 150k-token vocabulary (%d bytes) in %v", len(b), el)
	if el > 500*time.Millisecond {
		t.Errorf("parse took %v", el)
	}
}

func BenchmarkParseVocab(b *testing.B) {
	data := vocabFile(b, 150_000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(mem("vocab.gguf", data)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadChunks reads a tensor larger than the decode chunk.
func TestReadChunks(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := tensor.Info{Name: "big", DType: tensor.Q8_0, Shape: []int{500, 1024}}
	w.AddTensor(in)
	w.WriteHeader()
	v := make([]float32, in.Elems())
	for i := range v {
		v[i] = float32(i%251) - 125
	}
	b, _ := tensor.Encode(nil, v, tensor.Q8_0)
	tensor.Decode(v, b, tensor.Q8_0)
	if err := w.WriteTensor("big", b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(mem("big", out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	big := f.Tensors[0]
	dst := make([]float32, 499*1024)
	if err := big.ReadF32(dst, 1, 499); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dst, v[1024:]) {
		t.Fatal("values differ")
	}
}

// sparse is a large Source that holds data at its start and zeros after.
type sparse struct {
	data []byte
	size int64
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(s.data)) {
		copy(p, s.data[off:])
	}
	return len(p), nil
}
func (s *sparse) Size() int64  { return s.size }
func (s *sparse) Name() string { return "sparse.gguf" }

func TestHeaderLimit(t *testing.T) {
	var b bld
	b.head(0, 1).str("k").u32(uint32(ValArray)).u32(uint32(ValUint8)).u64(MaxHeaderBytes)
	_, err := Parse(&sparse{b.Bytes(), 1 << 40})
	if err == nil || !strings.Contains(err.Error(), "header limit") {
		t.Fatalf("error %v", err)
	}
	var c bld
	c.head(0, 1).str("k").u32(uint32(ValArray)).u32(uint32(ValUint8)).u64(8 << 20)
	_, err = Parse(&sparse{c.Bytes(), 1 << 40})
	if err != nil {
		t.Fatalf("large array within the limit: %v", err)
	}
}
