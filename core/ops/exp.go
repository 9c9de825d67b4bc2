package ops

import "math"

// exp32 is e^x rounded to float32, computed the same way on every platform.
// (math.Exp is assembly on amd64, with FMA where the CPU has it, and Go
// elsewhere: the two may differ in the last bit of the float64, which now and
// then shows in the float32.) Range reduction x = k ln2 + r, |r| <= ln2/2, a
// degree-10 Taylor polynomial in float64 (error below 3e-13 relative), and an
// exact scaling by 2^k; every product is rounded explicitly, never fused.
func exp32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 89: // e^89 > MaxFloat32
		return float32(math.Inf(1))
	case x < -104: // e^-104 < half the smallest float32 denormal
		return 0
	}
	const (
		log2e = 1.4426950408889634
		ln2hi = 6.93147180369123816490e-01 // ln2 = ln2hi + ln2lo, ln2hi with a short mantissa
		ln2lo = 1.90821492927058770002e-10
	)
	f := float64(x)
	k := math.Floor(float64(f*log2e) + 0.5)
	r := f - float64(k*ln2hi)
	r -= float64(k * ln2lo)
	p := expCoef[0]
	for _, c := range expCoef[1:] {
		p = float64(p*r) + c
	}
	return float32(p * math.Float64frombits(uint64(int64(k)+1023)<<52))
}

// expCoef are 1/i! for i = 10 down to 0, the Taylor series of e^r in Horner order.
var expCoef = [11]float64{
	1.0 / 3628800,
	1.0 / 362880,
	1.0 / 40320,
	1.0 / 5040,
	1.0 / 720,
	1.0 / 120,
	1.0 / 24,
	1.0 / 6,
	1.0 / 2,
	1.0 / 1,
	1.0 / 1,
}
