// Package gpu runs the forward pass on a GPU through github.com/gogpu/wgpu:
// natively over Vulkan (any driver, including Mesa's lavapipe on a CPU) and
// under GOOS=js over the browser's WebGPU. Under GOOS=wasip1 there is no GPU
// and Open returns an error.
//
// The package has two layers:
//
//   - a small compute API in the spirit of gpu.cpp: Device (adapter, limits,
//     queue), Tensor (a device buffer), Kernel (a compiled WGSL pipeline from
//     package shaders), Pass (dispatches recorded and submitted together) and
//     Read (copy back to the host);
//   - Backend, a model.Backend over that API: hidden states stay on the device
//     from layer to layer, each layer's weights are uploaded as their file's
//     bytes and released after it, and only statistics, the final normed
//     rows and the logits come back. It is also a model.HeadBackend: the
//     lm_head product runs on the device over the chunks of vocabulary rows
//     model.Logits streams from the file. A batch whose activations exceed
//     one storage binding runs as parts of whole documents.
//
// Failures are errors, never hangs or panics: a refused allocation returns
// ErrOutOfMemory; a device that fails or does not answer a wait within
// Device.Timeout is lost, and every later call returns ErrDeviceLost at
// once. Tests force both with Device.Inject (natively also through the
// CUSPRUN_GPU_FAULT environment variable; see Fault).
package gpu
