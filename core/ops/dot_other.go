//go:build !amd64

package ops

// SIMD names the kernels in use; only the pure-Go ones exist here.
var SIMD = "go"

func useSIMD(name string) bool { return name == "go" }
