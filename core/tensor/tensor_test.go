package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// f16Value is an IEEE half's value, derived from the format's definition
// (not from F16ToF32): subnormals are man*2^-24, normals (1024+man)*2^(e-25).
func f16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, man := int(h>>10&0x1f), float64(h&0x3ff)
	switch {
	case e == 0x1f && man == 0:
		return math.Inf(int(sign))
	case e == 0x1f:
		return math.NaN()
	case e == 0:
		return sign * math.Ldexp(man, -24)
	}
	return sign * math.Ldexp(1024+man, e-25)
}

// TestF16ToF32Exhaustive widens every half and compares with the format's
// definition, subnormals, infinities and NaN included.
func TestF16ToF32Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := float64(F16ToF32(h)), f16Value(h)
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("F16ToF32(%#04x) = %g, want NaN", h, got)
			}
			continue
		}
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
	}
}

// TestF32ToF16ByHand checks rounding to nearest even at hand-picked points.
func TestF32ToF16ByHand(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00}, {0.5, 0x3800}, {-2, 0xc000}, {0, 0}, {float32(math.Copysign(0, -1)), 0x8000},
		{65504, 0x7bff},                           // largest half
		{65519, 0x7bff},                           // below the midpoint to 65536
		{65520, 0x7c00},                           // midpoint, 0x7bff is odd: up, to infinity
		{1e6, 0x7c00},                             // overflow
		{float32(math.Ldexp(1, -14)), 0x0400},     // smallest normal
		{float32(math.Ldexp(1, -24)), 0x0001},     // smallest subnormal
		{float32(math.Ldexp(3, -24)), 0x0003},     // a subnormal
		{float32(math.Ldexp(1023, -24)), 0x03ff},  // largest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000},     // half the smallest subnormal: tie to even 0
		{float32(math.Ldexp(3, -25)), 0x0002},     // 1.5 ulp: tie, to even 2
		{float32(math.Ldexp(1.5, -25)), 0x0001},   // above the tie: up
		{float32(math.Ldexp(1, -26)), 0x0000},     // underflow
		{1 + float32(math.Ldexp(1, -11)), 0x3c00}, // tie between 0x3c00 and 0x3c01: even
		{1 + float32(math.Ldexp(3, -11)), 0x3c02}, // tie between 0x3c01 and 0x3c02: even
		{float32(math.Inf(1)), 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%g = %#08x) = %#04x, want %#04x", c.f, math.Float32bits(c.f), got, c.want)
		}
	}
	if h := F32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("F32ToF16(NaN) = %#04x, not a NaN", h)
	}
}

// nearest checks that r is a nearest representable value to x among its
// neighbours r-1 and r+1 (same sign), with an even r on a tie.
func nearest(t *testing.T, what string, x float64, r uint32, dec func(uint32) float64) {
	t.Helper()
	d := math.Abs(x - dec(r))
	for _, n := range []uint32{r - 1, r + 1} {
		v := dec(n)
		if math.IsNaN(v) || math.IsInf(v, 0) && !math.IsInf(dec(r), 0) {
			continue
		}
		dn := math.Abs(x - v)
		if dn < d || dn == d && r&1 == 1 {
			t.Fatalf("%s(%g): got %#x (off by %g), neighbour %#x is off by %g", what, x, r, d, n, dn)
		}
	}
}

// TestF32ToF16Nearest: on random finite floats within half range, the
// result is the nearest half, ties to even.
func TestF32ToF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	dec := func(h uint32) float64 { return f16Value(uint16(h)) }
	for i := 0; i < 200000; i++ {
		// magnitudes from 2^-26 to 2^16, positive and negative
		x := float32(math.Ldexp(r.Float64()+0.5, r.IntN(42)-26))
		if r.IntN(2) == 0 {
			x = -x
		}
		h := F32ToF16(x)
		if h&0x7fff == 0x7c00 && math.Abs(float64(x)) < 65520 {
			t.Fatalf("F32ToF16(%g) overflowed", x)
		}
		if h&0x7fff == 0 || h&0x7fff == 0x7bff || h&0x7fff == 0x7c00 {
			continue // at the ends the neighbour test does not apply
		}
		nearest(t, "F32ToF16", float64(x), uint32(h), dec)
	}
}

// TestBF16ByHand checks rounding to nearest even on the bit patterns where
// truncation and rounding differ, and that NaN stays NaN.
func TestBF16ByHand(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f807fff, 0x3f80}, // below half an ulp: down
		{0x3f808000, 0x3f80}, // exactly half, 0x3f80 even: stays
		{0x3f808001, 0x3f81}, // above half: up (truncation gives 0x3f80)
		{0x3f818000, 0x3f82}, // exactly half, 0x3f81 odd: up to even (truncation gives 0x3f81)
		{0x3f81ffff, 0x3f82}, // carries
		{0xbf808001, 0xbf81}, // negative, above half
		{0xbf818000, 0xbf82}, // negative tie to even
		{0x3fffffff, 0x4000}, // carry into the exponent
		{0x7f7f0000, 0x7f7f}, // largest bf16
		{0x7f7fffff, 0x7f80}, // rounds past the largest: infinity
		{0x7f800000, 0x7f80}, // +inf
		{0xff800000, 0xff80}, // -inf
		{0x00000000, 0x0000}, {0x80000000, 0x8000},
		{0x00008000, 0x0000}, // subnormal tie to even 0
		{0x00018000, 0x0002}, // subnormal tie to even 2
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
	isNaN := func(h uint16) bool { return h&0x7f80 == 0x7f80 && h&0x7f != 0 }
	// NaNs whose payload is only in the low half would truncate to infinity.
	for _, bits := range []uint32{0x7f800001, 0x7fc00000, 0xff800001, 0x7fffffff, 0x7f80ffff} {
		h := F32ToBF16(math.Float32frombits(bits))
		if !isNaN(h) {
			t.Errorf("F32ToBF16(%#08x) = %#04x, not a NaN", bits, h)
		}
		if h>>15 != uint16(bits>>31) {
			t.Errorf("F32ToBF16(%#08x) = %#04x lost the sign", bits, h)
		}
	}
	for _, c := range []struct {
		h    uint16
		want uint32
	}{{0x3f81, 0x3f810000}, {0xc0a0, 0xc0a00000}, {0x0001, 0x00010000}, {0x7f80, 0x7f800000}} {
		if got := math.Float32bits(BF16ToF32(c.h)); got != c.want {
			t.Errorf("BF16ToF32(%#04x) = %#08x, want %#08x", c.h, got, c.want)
		}
	}
}

// TestBF16Nearest: on random finite floats, the bf16 is a nearest one,
// ties to even; widening is exact so the difference is exact in float64.
func TestBF16Nearest(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	dec := func(h uint32) float64 { return float64(math.Float32frombits(h << 16)) }
	for i := 0; i < 200000; i++ {
		bits := r.Uint32()
		if bits&0x7f800000 == 0x7f800000 || bits&0x7fff0000 == 0x7f7f0000 || bits&0x7fff0000 == 0 {
			continue // inf/NaN, or at the ends of the range
		}
		if i%4 == 0 {
			bits = bits&0xffff0000 | 0x8000 // force a tie
		}
		x := math.Float32frombits(bits)
		nearest(t, "F32ToBF16", float64(x), uint32(F32ToBF16(x)), dec)
	}
}

// TestEncodeDecode round-trips through Encode and Decode with the
// little-endian layouts written out by hand.
func TestEncodeDecode(t *testing.T) {
	b, err := Encode(nil, []float32{1, -2}, F32)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}; string(b) != string(want) {
		t.Errorf("F32 bytes % x, want % x", b, want)
	}
	b, _ = Encode(nil, []float32{1, -2}, F16)
	if want := []byte{0x00, 0x3c, 0x00, 0xc0}; string(b) != string(want) {
		t.Errorf("F16 bytes % x, want % x", b, want)
	}
	b, _ = Encode([]byte{9}, []float32{1, math.Float32frombits(0x3f818000)}, BF16)
	if want := []byte{9, 0x80, 0x3f, 0x82, 0x3f}; string(b) != string(want) {
		t.Errorf("BF16 bytes appended % x, want % x", b, want)
	}
	dst := make([]float32, 2)
	if err := Decode(dst, []byte{0x80, 0x3f, 0x82, 0x3f}, BF16); err != nil || dst[0] != 1 || math.Float32bits(dst[1]) != 0x3f820000 {
		t.Errorf("BF16 decode %v %v", dst, err)
	}
	if err := Decode(dst, []byte{0x00, 0x3c, 0x01, 0x00}, F16); err != nil || dst[0] != 1 || float64(dst[1]) != math.Ldexp(1, -24) {
		t.Errorf("F16 decode %v %v", dst, err)
	}
	if err := Decode(make([]float32, 3), make([]byte, 5), F16); err == nil {
		t.Error("decoding 3 F16 from 5 bytes succeeded")
	}
	if err := Decode(make([]float32, 2), make([]byte, 100), DType(42)); err == nil {
		t.Error("decoding an unknown dtype succeeded")
	}
	if _, err := Encode(nil, []float32{1}, DType(42)); err == nil {
		t.Error("encoding an unknown dtype succeeded")
	}
}

// TestQ8_0ByHand encodes a block whose scale is exactly 1 (amax 127) and
// checks every byte, then decodes it.
func TestQ8_0ByHand(t *testing.T) {
	v := make([]float32, 64)
	v[0], v[1], v[2], v[3], v[4] = 127, -127, 0.4, 2.5, -2.5 // rounding half away from zero, as llama.cpp's roundf
	for j := 32; j < 64; j++ {
		v[j] = 0 // an all-zero block: scale 0
	}
	b, err := Encode(nil, v, Q8_0)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 68 || Q8_0.ByteSize(64) != 68 {
		t.Fatalf("Q8_0 of 64 values is %d bytes (ByteSize %d), want 68", len(b), Q8_0.ByteSize(64))
	}
	want := []byte{0x00, 0x3c, 0x7f, 0x81, 0, 3, 0xfd}
	if string(b[:7]) != string(want) {
		t.Errorf("block 0 starts % x, want % x", b[:7], want)
	}
	for j := 7; j < 68; j++ {
		if b[j] != 0 {
			t.Fatalf("byte %d = %#x, want 0", j, b[j])
		}
	}
	dst := make([]float32, 64)
	if err := Decode(dst, b, Q8_0); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 127 || dst[1] != -127 || dst[2] != 0 || dst[3] != 3 || dst[4] != -3 || dst[40] != 0 {
		t.Errorf("decoded %v", dst[:5])
	}
	// scale 2/127 for amax 2: the values come back within half a step
	w := make([]float32, 32)
	for j := range w {
		w[j] = float32(j-16) / 8
	}
	b, _ = Encode(nil, w, Q8_0)
	scale := F16ToF32(uint16(b[0]) | uint16(b[1])<<8)
	if math.Abs(float64(scale)-2.0/127) > 2.0/127/1024 {
		t.Errorf("scale %g, want about %g", scale, 2.0/127)
	}
	Decode(dst[:32], b, Q8_0)
	for j := range w {
		if math.Abs(float64(dst[j]-w[j])) > float64(scale)/2*1.001 {
			t.Errorf("value %d: %g came back as %g", j, w[j], dst[j])
		}
	}
	if _, err := Encode(nil, make([]float32, 33), Q8_0); err == nil {
		t.Error("Q8_0 of 33 values encoded")
	}
	if Q8_0.ByteSize(33) != -1 {
		t.Error("ByteSize(33) of Q8_0 is not -1")
	}
}

// TestInfoAndDTypes checks sizes, the matrix view and dtype names.
func TestInfoAndDTypes(t *testing.T) {
	in := Info{Name: "w", DType: BF16, Shape: []int{2, 3, 5}}
	if in.Elems() != 30 || in.Cols() != 5 || in.Rows() != 6 || in.Bytes() != 60 || in.RowBytes() != 10 {
		t.Errorf("%v: elems %d cols %d rows %d bytes %d rowbytes %d", in.Shape, in.Elems(), in.Cols(), in.Rows(), in.Bytes(), in.RowBytes())
	}
	sc := Info{DType: F32}
	if sc.Elems() != 1 || sc.Cols() != 1 || sc.Rows() != 1 || sc.Bytes() != 4 {
		t.Errorf("scalar: elems %d cols %d rows %d", sc.Elems(), sc.Cols(), sc.Rows())
	}
	if z := (Info{DType: F32, Shape: []int{4, 0}}); z.Rows() != 0 || z.Bytes() != 0 {
		t.Errorf("empty: rows %d bytes %d", z.Rows(), z.Bytes())
	}
	for _, d := range []DType{F32, F16, BF16, Q8_0} {
		p, err := ParseDType(d.String())
		if err != nil || p != d {
			t.Errorf("ParseDType(%q) = %v, %v", d.String(), p, err)
		}
	}
	for s, d := range map[string]DType{"bfloat16": BF16, "float16": F16, "f32": F32, "q8_0": Q8_0} {
		if p, err := ParseDType(s); err != nil || p != d {
			t.Errorf("ParseDType(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseDType("I8"); err == nil {
		t.Error("ParseDType(I8) accepted")
	}
	if s := DType(99).String(); s != "DType(99)" {
		t.Errorf("unknown dtype prints %q", s)
	}
}
