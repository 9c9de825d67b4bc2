//go:build !js && !wasip1

package compute

import (
	"github.com/gogpu/wgpu"
	// Only the Vulkan HAL: the pure-Go software HAL computes some kernels
	// silently wrong (docs/DESIGN §5), so it must never be picked as a
	// fallback when no Vulkan driver is present.
	_ "github.com/gogpu/wgpu/hal/vulkan"
)

func instanceDescriptor() *wgpu.InstanceDescriptor {
	return &wgpu.InstanceDescriptor{Backends: wgpu.BackendsVulkan}
}

const platform = "vulkan"
