//go:build !amd64

package ops

// useSIMD is the tests' kernel switch (dot_amd64.go has the real one); only
// the pure-Go kernels exist here.
func useSIMD(name string) bool { return name == "go" }
