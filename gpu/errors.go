//go:build !wasip1

package gpu

import "github.com/cusprun/cusprun/gpu/internal/compute"

// The backend's failures, for errors.Is: New fails with ErrNoAdapter when
// no GPU answers; a refused allocation is ErrOutOfMemory; a device that
// failed or stopped answering is ErrDeviceLost, and every later call on it
// fails at once with it.
var (
	ErrNoAdapter   = compute.ErrNoAdapter
	ErrDeviceLost  = compute.ErrDeviceLost
	ErrOutOfMemory = compute.ErrOutOfMemory
)
