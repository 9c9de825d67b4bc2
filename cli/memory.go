package cli

import (
	"os"
	"runtime/debug"
)

// init keeps the Go heap close to what is live: weights stream through one
// layer at a time, so without a limit the collector would let garbage grow
// to the size of everything read so far. GOMEMLIMIT overrides it.
func init() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}
