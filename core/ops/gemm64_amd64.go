package ops

import "unsafe"

// Assembly tiles of gemm64.go and gram.go (gemm64_amd64.s).

//go:noescape
func tile8x16avx512(a, b *float64, p int, c *float64, ldc int)

//go:noescape
func tile8x16avx2(a, b *float64, p int, c *float64, ldc int)

//go:noescape
func gram8x32avx512(a, b *float32, n int, out *float64, ldg int)

//go:noescape
func gram8x32avx2(a, b *float32, n int, out *float64, ldg int)

// useTiles sets the float64 and Gram tiles of a kernel set (useSIMD).
func useTiles(name string) {
	switch name {
	case "avx512", "avx2":
		t64, tg := tile8x16avx2, gram8x32avx2
		if name == "avx512" {
			t64, tg = tile8x16avx512, gram8x32avx512
		}
		gemmTile = &tile64{mr: 8, nr: 16, fn: func(a, b []float64, p int, c []float64, ldc int) {
			if p <= 0 {
				return
			}
			_, _, _ = a[p*8-1], b[p*16-1], c[7*ldc+15]
			t64(&a[0], &b[0], p, &c[0], ldc)
		}}
		gramTile = func(a, b []float32, n int, g []float64, ldg int) {
			if n <= 0 {
				return
			}
			_, _, _ = a[(n-1)*32+7], b[n*32-1], g[7*ldg+31]
			tg(unsafe.SliceData(a), &b[0], n, &g[0], ldg)
		}
	default:
		gemmTile, gramTile = nil, gramTileGo
	}
}
