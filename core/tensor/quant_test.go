package tensor

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Hand-built blocks whose values follow from the formats' definitions
// (ggml-common.h): the decoders must give exactly these numbers.
func TestDequantByHand(t *testing.T) {
	t.Run("Q4_0", func(t *testing.T) {
		b := make([]byte, 18)
		b[0], b[1] = 0x00, 0x3c // d = 1.0
		for j := 0; j < 16; j++ {
			b[2+j] = byte(j) | byte(15-j)<<4
		}
		got := make([]float32, 32)
		if err := Decode(got, b, Q4_0); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 16; j++ {
			if got[j] != float32(j-8) || got[j+16] != float32(7-j) {
				t.Fatalf("value %d: %v %v", j, got[j], got[j+16])
			}
		}
	})
	t.Run("Q5_1", func(t *testing.T) {
		b := make([]byte, 24)
		b[0], b[1] = 0x00, 0x40 // d = 2.0
		b[2], b[3] = 0x00, 0xbc // m = -1.0
		b[4+3] = 0x80           // fifth bit of value 31
		b[8+15] = 0xf0          // high nibble of byte 15 = value 31's low bits
		got := make([]float32, 32)
		if err := Decode(got, b, Q5_1); err != nil {
			t.Fatal(err)
		}
		if got[0] != -1 || got[31] != 31*2-1 {
			t.Fatalf("got %v %v, want -1 and 61", got[0], got[31])
		}
	})
	t.Run("Q4_K", func(t *testing.T) {
		b := make([]byte, 144)
		b[0], b[1] = 0x00, 0x3c // d = 1
		b[2], b[3] = 0x00, 0x3c // dmin = 1
		sc := b[4:16]
		sc[0], sc[4] = 1, 0 // sub-block 0: scale 1, min 0
		sc[1], sc[5] = 3, 2 // sub-block 1: scale 3, min 2
		b[16] = 0x21        // value 0 level 1, value 32 level 2
		got := make([]float32, 256)
		if err := Decode(got, b, Q4_K); err != nil {
			t.Fatal(err)
		}
		if got[0] != 1 || got[32] != 3*2-2 || got[1] != 0 || got[33] != -2 {
			t.Fatalf("got %v %v %v %v, want 1 4 0 -2", got[0], got[32], got[1], got[33])
		}
	})
	t.Run("Q6_K", func(t *testing.T) {
		b := make([]byte, 210)
		b[208], b[209] = 0x00, 0x3c // d = 1
		for i := 192; i < 208; i++ {
			b[i] = 1
		}
		b[192] = 0xfe // scale of values 0..15 is -2
		b[0] = 0x0f   // value 0: low 4 bits 15, high bits 0 -> 15-32
		got := make([]float32, 256)
		if err := Decode(got, b, Q6_K); err != nil {
			t.Fatal(err)
		}
		if got[0] != -2*(15-32) || got[1] != -2*-32 || got[16] != -32 {
			t.Fatalf("got %v %v %v, want 34 64 -32", got[0], got[1], got[16])
		}
	})
	// The IQ4 levels, from llama.cpp's gguf-py (IQ4_NL.kvalues).
	levels := []float32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	t.Run("IQ4_NL", func(t *testing.T) {
		b := make([]byte, 18)
		b[0], b[1] = 0x00, 0x38 // d = 0.5
		for j := 0; j < 16; j++ {
			b[2+j] = byte(j) | byte(15-j)<<4
		}
		got := make([]float32, 32)
		if err := Decode(got, b, IQ4_NL); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 16; j++ {
			if got[j] != levels[j]/2 || got[j+16] != levels[15-j]/2 {
				t.Fatalf("values %d and %d: %v %v, want %v %v", j, j+16, got[j], got[j+16], levels[j]/2, levels[15-j]/2)
			}
		}
	})
	t.Run("IQ4_XS", func(t *testing.T) {
		b := make([]byte, 136)
		b[0], b[1] = 0x00, 0x3c // d = 1
		// Run scales ls - 32: run 0 ls 33 (+1), run 1 ls 31 (-1), run 5 ls
		// 48 (+16: low nibble 0, high bits 3); the rest ls 0 (-32).
		b[4] = 0x1 | 0xf<<4 // runs 0 (1) and 1 (15)
		b[2] = 2 | 1<<2     // high bits: run 0 is 2 (33 = 2<<4|1), run 1 is 1 (31 = 1<<4|15)
		b[3] = 3 << 2       // run 5 (bits 10-11 of scales_h): 3, low nibble 0 -> 48
		b[8] = 0x0f         // run 0: value 0 level 15, value 16 level 0
		b[8+16] = 0x08      // run 1: value 32 level 8
		b[8+16*5+3] = 0x30  // run 5: value 160+19 level 3
		got := make([]float32, 256)
		if err := Decode(got, b, IQ4_XS); err != nil {
			t.Fatal(err)
		}
		want := map[int]float32{0: 113, 16: -127, 1: -127, 32: -1, 33: 127, 179: 16 * -65, 64: -32 * -127}
		for i, w := range want {
			if got[i] != w {
				t.Errorf("value %d: %v, want %v", i, got[i], w)
			}
		}
	})
}

// TestQuantRoundTrip: what Encode writes decodes to values within the
// format's resolution of the input.
func TestQuantRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4*QK)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	// worst error relative to the largest magnitude of a block: half a step
	// for the legacy formats, looser for the K-quants' two-level scales
	tol := map[DType]float64{Q8_0: 0.5/127 + 1e-3, Q4_0: 0.5/8 + 1e-3, Q4_1: 1.0/15 + 1e-3, Q5_0: 0.5/16 + 1e-3,
		Q5_1: 1.0/31 + 1e-3, Q2_K: 0.5, Q3_K: 0.25, Q4_K: 0.12, Q5_K: 0.06, Q6_K: 0.03}
	for d, tl := range tol {
		enc, err := Encode(nil, x, d)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(enc)) != d.ByteSize(int64(len(x))) {
			t.Fatalf("%s: %d bytes, want %d", d, len(enc), d.ByteSize(int64(len(x))))
		}
		got := make([]float32, len(x))
		if err := Decode(got, enc, d); err != nil {
			t.Fatal(err)
		}
		amax, worst := 0.0, 0.0
		for i := range x {
			amax = math.Max(amax, math.Abs(float64(x[i])))
			worst = math.Max(worst, math.Abs(float64(got[i]-x[i])))
		}
		t.Logf("%s: max error %.4f of max |x| %.3f", d, worst, amax)
		if worst > tl*amax*2 {
			t.Errorf("%s: round trip error %.4f exceeds %.4f", d, worst, tl*amax*2)
		}
	}
}

func TestQuantBadSizes(t *testing.T) {
	for _, d := range QuantDTypes() {
		elems, bytes, _ := d.Block()
		err := Decode(make([]float32, elems), make([]byte, bytes-1), d)
		if err == nil || !strings.Contains(err.Error(), d.String()) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: short block decoded: %v", d, err)
		}
		if err := Decode(make([]float32, elems+1), make([]byte, 2*bytes), d); err == nil {
			t.Errorf("%s: %d values (not whole blocks) decoded", d, elems+1)
		}
		if d.ByteSize(int64(elems+1)) != -1 || d.ByteSize(int64(3*elems)) != int64(3*bytes) {
			t.Errorf("%s: ByteSize wrong", d)
		}
		if !CanEncode(d) {
			continue
		}
		if _, err := Encode(nil, make([]float32, elems-1), d); err == nil {
			t.Errorf("%s: partial block encoded", d)
		}
	}
	if _, err := Encode(nil, make([]float32, QK), DType(99)); err == nil {
		t.Error("an unknown dtype was encoded")
	}
	for _, d := range QuantDTypes() {
		if p, err := ParseDType(strings.ToLower(d.String())); err != nil || p != d {
			t.Errorf("ParseDType(%q) = %v, %v", strings.ToLower(d.String()), p, err)
		}
	}
}
