//go:build !amd64

package ops

// SIMD names the kernels in use; only the pure-Go ones exist here.
var SIMD = "go"
