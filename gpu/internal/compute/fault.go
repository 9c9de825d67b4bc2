//go:build !wasip1

package compute

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Fault makes a device fail on purpose, so tests can force the failure
// paths of issue 7 (an allocation refused, a device lost or hung) on any
// adapter, lavapipe included. Counts start at the call to Inject: 1 is the
// next one, 0 never.
type Fault struct {
	// Alloc: the Alloc-th tensor allocation fails with ErrOutOfMemory.
	Alloc int
	// Lose: at the Lose-th wait for the device (a read back) the device is
	// lost: that wait and every later call fail with ErrDeviceLost.
	Lose int
	// Hang: the lost device stops answering instead of failing, so the
	// wait runs out its Timeout first (then the device is lost as above).
	Hang bool
}

// Inject arms a fault, replacing any armed before.
func (d *Device) Inject(f Fault) {
	d.fmu.Lock()
	d.fault = f
	d.fmu.Unlock()
}

// faultEnv arms a fault on every device Open creates, for tests of the
// command line: "noadapter" (Open fails as with no driver), "alloc:N",
// "lost:N" or "hang:N" (see Fault). timeoutEnv sets Device.Timeout (a Go
// duration, "2s").
const (
	faultEnv   = "CUSPRUN_GPU_FAULT"
	timeoutEnv = "CUSPRUN_GPU_TIMEOUT"
)

func envFault() (f Fault, noAdapter bool, timeout time.Duration, err error) {
	if v := os.Getenv(timeoutEnv); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 {
			return f, false, 0, fmt.Errorf("gpu: %s=%q: want a positive duration such as 30s", timeoutEnv, v)
		}
	}
	v := os.Getenv(faultEnv)
	if v == "" {
		return f, false, timeout, nil
	}
	if v == "noadapter" {
		return f, true, timeout, nil
	}
	kind, num, _ := strings.Cut(v, ":")
	n, cerr := strconv.Atoi(num)
	if cerr != nil || n < 1 {
		kind = ""
	}
	switch kind {
	case "alloc":
		f.Alloc = n
	case "lost":
		f.Lose = n
	case "hang":
		f.Lose, f.Hang = n, true
	default:
		return f, false, 0, fmt.Errorf("gpu: %s=%q: want noadapter, alloc:N, lost:N or hang:N", faultEnv, v)
	}
	return f, false, timeout, nil
}

// injected counts down an armed fault counter and reports whether it fires
// now.
func (d *Device) injected(c *int) bool {
	d.fmu.Lock()
	defer d.fmu.Unlock()
	if *c <= 0 {
		return false
	}
	*c--
	return *c == 0
}

// injectedLoss counts down an armed loss: whether it fires now, and whether
// as a hang.
func (d *Device) injectedLoss() (lose, hang bool) {
	lose = d.injected(&d.fault.Lose)
	d.fmu.Lock()
	defer d.fmu.Unlock()
	return lose, d.fault.Hang
}

// alive is nil, or the error the device was lost with.
func (d *Device) alive() error {
	d.fmu.Lock()
	defer d.fmu.Unlock()
	return d.lost
}

// setLost marks the device lost (keeping the first cause) and returns the
// error every call now gets.
func (d *Device) setLost(cause error) error {
	d.fmu.Lock()
	defer d.fmu.Unlock()
	if d.lost == nil {
		d.lost = fmt.Errorf("%w (%s): %v", ErrDeviceLost, strings.TrimSpace(d.info.Name), cause)
	}
	return d.lost
}

// Lost is nil while the device works, or the error it was lost with.
func (d *Device) Lost() error { return d.alive() }
