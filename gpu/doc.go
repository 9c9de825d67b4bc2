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
//     bytes and released after it, and only statistics and the final normed
//     rows come back.
package gpu
