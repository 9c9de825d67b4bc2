//go:build !js && !wasip1

package compute

import (
	"errors"
	"strings"
	"testing"
)

// TestFaultEnv: the command line's fault switches parse, and a bad one is
// a clear error.
func TestFaultEnv(t *testing.T) {
	for v, want := range map[string]Fault{"alloc:3": {Alloc: 3}, "lost:2": {Lose: 2}, "hang:1": {Lose: 1, Hang: true}} {
		t.Setenv(faultEnv, v)
		f, no, _, err := envFault()
		if err != nil || no || f != want {
			t.Errorf("%s=%s: %+v %v %v, want %+v", faultEnv, v, f, no, err, want)
		}
	}
	t.Setenv(faultEnv, "noadapter")
	if _, err := Open(); !errors.Is(err, ErrNoAdapter) {
		t.Errorf("noadapter: Open err = %v, want ErrNoAdapter", err)
	}
	for _, bad := range []string{"alloc", "lost:0", "crash:1"} {
		t.Setenv(faultEnv, bad)
		if _, err := Open(); err == nil || !strings.Contains(err.Error(), faultEnv) {
			t.Errorf("%s=%s: err = %v", faultEnv, bad, err)
		}
	}
	t.Setenv(faultEnv, "")
	t.Setenv(timeoutEnv, "soon")
	if _, err := Open(); err == nil || !strings.Contains(err.Error(), timeoutEnv) {
		t.Errorf("%s=soon: err = %v", timeoutEnv, err)
	}
}
