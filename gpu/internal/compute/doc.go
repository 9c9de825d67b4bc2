// Package compute is the small GPU compute API package gpu's Backend runs
// on, in the spirit of gpu.cpp: Device (adapter, limits, queue), Tensor (a
// device buffer), Weight (a matrix in its file dtype, split into chunks that
// each fit one storage binding), Kernel (a compiled WGSL pipeline from
// package shaders), Pass (dispatches recorded and submitted together, with
// one method per kernel: MatMul, RMSNorm, Rope, Attention, ...) and Read
// (copy back to the host). It is internal: nothing outside gpu/ needs it.
//
// Failures are errors, never hangs or panics: a refused allocation returns
// ErrOutOfMemory; a device that fails or does not answer a wait within
// Device.Timeout is lost, and every later call returns ErrDeviceLost at
// once. Tests force both with Device.Inject (natively also through the
// CUSPRUN_GPU_FAULT environment variable; see Fault). Under GOOS=wasip1
// the package is empty.
package compute
