//go:build unix

package tokenizer

import "syscall"

// cpuSeconds is the process's user+system CPU time, for throughput figures
// that do not depend on how busy the machine is.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
