// Package gpu is model.Backend on a GPU, through github.com/gogpu/wgpu:
// natively over Vulkan (any driver, including Mesa's lavapipe on a CPU) and
// under GOOS=js over the browser's WebGPU. Under GOOS=wasip1 there is no GPU
// and New returns an error.
//
// Backend keeps the hidden states on the device from layer to layer; each
// layer's weights are uploaded as their file's bytes and released after it,
// and only statistics, the final normed rows and the logits come back. It is
// also a model.HeadBackend: the lm_head product runs on the device over the
// chunks of vocabulary rows model.Logits streams from the file. A batch
// whose activations exceed one storage binding runs as parts of whole
// documents. It keeps no KV cache, so generation runs on the CPU.
//
// The compute layer under it (device, buffers, WGSL kernels, passes) is
// gpu/internal/compute, so this package exports only what others use:
// New, Backend and the errors.
//
// Failures are errors, never hangs or panics: a refused allocation returns
// ErrOutOfMemory; a device that fails or does not answer a wait within its
// timeout is lost, and every later call returns ErrDeviceLost at once.
// Tests force both natively through the CUSPRUN_GPU_FAULT environment
// variable (see compute.Fault); CUSPRUN_GPU_TIMEOUT sets the timeout.
package gpu
