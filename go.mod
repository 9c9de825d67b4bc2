module github.com/cusprun/cusprun

go 1.26.0

require (
	github.com/dlclark/regexp2 v1.12.0
	github.com/gogpu/gputypes v0.5.2
	github.com/gogpu/wgpu v0.31.5
	github.com/klauspost/compress v1.20.4
	github.com/tetratelabs/wazero v1.12.0
	golang.org/x/sys v0.47.0
	golang.org/x/text v0.44.0
)

require (
	github.com/go-webgpu/goffi v0.6.3 // indirect
	github.com/go-webgpu/webgpu v0.5.5 // indirect
	github.com/gogpu/gpucontext v0.28.0 // indirect
	github.com/gogpu/naga v0.18.0 // indirect
)
