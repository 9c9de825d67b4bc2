//go:build js && wasm

package compute

import "github.com/gogpu/wgpu"

func instanceDescriptor() *wgpu.InstanceDescriptor { return nil }

const platform = "webgpu"
