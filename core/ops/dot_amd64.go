package ops

import (
	"os"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Assembly kernels (dot_amd64.s). Each reproduces the pure-Go lane sums of
// dot.go exactly: VMULPS then VADDPS per lane, never VFMADD.

//go:noescape
func block2x3avx2(y *float32, ys int, x *float32, xs int, w *float32, ws int, k int)

//go:noescape
func lanes1x1avx2(acc, x, w *float32, k int)

//go:noescape
func block4x4avx512(y *float32, ys int, x *float32, xs int, w *float32, ws int, k int)

//go:noescape
func lanes1x1avx512(acc, x, w *float32, k int)

//go:noescape
func axpyRowsAVX2(out, p, v *float32, vs, n, width int)

// SIMD names the kernels in use: "avx512", "avx2" or "go". The environment
// variable CUSPRUN_SIMD (go, avx2, avx512) can lower the choice; results are
// the same bits whatever it is.
var SIMD = "go"

func init() {
	want := os.Getenv("CUSPRUN_SIMD")
	switch {
	case want == "go":
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && want != "avx2":
		useSIMD("avx512")
	case cpu.X86.HasAVX2:
		useSIMD("avx2")
	}
}

// useSIMD switches the kernels (tests compare them); it reports whether the
// CPU can run the named set.
func useSIMD(name string) bool {
	switch name {
	case "go":
		block, one, axpyRowsFn = blockKernel{4, 4, block4x4}, lanes1x1, axpyRowsGo
	case "avx2":
		if !cpu.X86.HasAVX2 {
			return false
		}
		block = blockKernel{2, 3, func(y []float32, ys int, x []float32, xs int, w []float32, ws int, k int) {
			_ = y[ys+2]
			if k > 0 {
				_, _ = x[xs+k-1], w[2*ws+k-1]
			}
			block2x3avx2(&y[0], ys, unsafe.SliceData(x), xs, unsafe.SliceData(w), ws, k)
		}}
		one = func(acc, x, w []float32, k int) {
			_, _, _ = acc[lanes-1], x[k-1], w[k-1]
			lanes1x1avx2(&acc[0], &x[0], &w[0], k)
		}
		axpyRowsFn = axpyRowsAsm
	case "avx512":
		if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512VL || !cpu.X86.HasAVX2 {
			return false
		}
		block = blockKernel{4, 4, func(y []float32, ys int, x []float32, xs int, w []float32, ws int, k int) {
			_ = y[3*ys+3]
			if k > 0 {
				_, _ = x[3*xs+k-1], w[3*ws+k-1]
			}
			block4x4avx512(&y[0], ys, unsafe.SliceData(x), xs, unsafe.SliceData(w), ws, k)
		}}
		one = func(acc, x, w []float32, k int) {
			_, _, _ = acc[lanes-1], x[k-1], w[k-1]
			lanes1x1avx512(&acc[0], &x[0], &w[0], k)
		}
		axpyRowsFn = axpyRowsAsm
	default:
		return false
	}
	useTiles(name)
	SIMD = name
	return true
}

// axpyRowsAsm does the first width&^7 columns in assembly, the rest in Go.
func axpyRowsAsm(out, p, v []float32, vs, width int) {
	n := len(p)
	if n == 0 || width == 0 {
		return
	}
	_, _ = out[width-1], v[(n-1)*vs+width-1]
	wv := width &^ 7
	if wv > 0 {
		axpyRowsAVX2(&out[0], &p[0], &v[0], vs, n, wv)
	}
	if wv < width {
		axpyRowsGo(out[wv:width], p, v[wv:], vs, width-wv)
	}
}
