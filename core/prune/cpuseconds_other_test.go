//go:build !unix

package prune

// cpuSeconds is not measured here (no getrusage); the benchmark's CPU
// figures read 0.
func cpuSeconds() float64 { return 0 }
