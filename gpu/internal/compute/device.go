//go:build !wasip1

package compute

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"

	"github.com/cusprun/cusprun/shaders"
)

// ErrNoAdapter is returned (wrapped) by Open when no GPU adapter exists:
// natively, no Vulkan driver answered.
var ErrNoAdapter = errors.New("gpu: no adapter")

// ErrDeviceLost is returned (wrapped) once the device failed or stopped
// answering a wait: every later call on it fails at once with it, so a lost
// device costs one Timeout at most, never a hang.
var ErrDeviceLost = errors.New("gpu: device lost")

// ErrOutOfMemory is returned (wrapped) when the device refuses a buffer.
var ErrOutOfMemory = errors.New("gpu: out of device memory")

// Device is one GPU device with its queue, limits and compiled kernels.
// Its methods are safe for concurrent use; the GPU work itself is
// serialized on the queue.
type Device struct {
	inst   *wgpu.Instance
	ad     *wgpu.Adapter
	dev    *wgpu.Device
	queue  *wgpu.Queue
	info   wgpu.AdapterInfo
	limits wgpu.Limits

	// MaxBinding is the largest storage binding the backend uses, at most
	// the device's limit; tests lower it to exercise splitting.
	MaxBinding uint64
	// MatMulKernel picks the matmul shader: "tiled" (matmul_tiled.wgsl,
	// workgroup-memory tiles and 4x4 register blocks: real GPUs), "regs"
	// (matmul_regs.wgsl, register blocks without barriers: CPU drivers) or
	// "simple" (matmul.wgsl).
	MatMulKernel string
	// Timeout bounds every wait for the device (a read back): a device
	// that stops answering surfaces as an error, never a hang.
	Timeout time.Duration

	mu      sync.Mutex
	kernels map[string]*Kernel
	closed  bool

	fmu   sync.Mutex
	fault Fault
	lost  error // set when the device is lost; every call then fails with it

	// Writes are staged by gogpu/wgpu and copied at the next submit, and a
	// buffer released before that copy has run is destroyed under it (a
	// crash at the next submit). Each write takes a sequence number; a read
	// back that completes marks every write before its submit as done, and
	// Tensor.Release waits (Sync) for a tensor whose last write is not.
	wmu     sync.Mutex
	seq     uint64 // last write's number
	done    uint64 // writes up to this number have reached the device
	scratch *Tensor
}

// Open finds an adapter (Vulkan natively, WebGPU in a browser) and creates a
// device with the adapter's full limits.
func Open() (d *Device, err error) {
	defer Recover(&err, "open")
	fault, noAdapter, timeout, err := envFault()
	if err != nil {
		return nil, err
	}
	if noAdapter {
		return nil, fmt.Errorf("%w (%s): none, as %s asks", ErrNoAdapter, platform, faultEnv)
	}
	inst, err := wgpu.CreateInstance(instanceDescriptor())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAdapter, err)
	}
	ad, err := inst.RequestAdapter(nil)
	if err != nil {
		inst.Release()
		return nil, fmt.Errorf("%w (%s): %v", ErrNoAdapter, platform, err)
	}
	al := ad.Limits()
	dev, err := ad.RequestDevice(&wgpu.DeviceDescriptor{Label: "cusprun", RequiredLimits: al})
	if err != nil {
		// Some implementations refuse the full set; the defaults still work
		// (with 128 MiB bindings).
		if dev, err = ad.RequestDevice(nil); err != nil {
			ad.Release()
			inst.Release()
			return nil, fmt.Errorf("gpu: request device: %w", err)
		}
	}
	d = &Device{inst: inst, ad: ad, dev: dev, queue: dev.Queue(), info: ad.Info(), limits: dev.Limits(),
		Timeout: 10 * time.Minute, kernels: map[string]*Kernel{}, fault: fault}
	if timeout > 0 {
		d.Timeout = timeout
	}
	d.MatMulKernel = "tiled"
	if d.info.DeviceType == gputypes.DeviceTypeCPU {
		d.MatMulKernel = "regs"
	}
	d.MaxBinding = d.limits.MaxStorageBufferBindingSize
	if mb := d.limits.MaxBufferSize; mb > 0 && mb < d.MaxBinding {
		d.MaxBinding = mb
	}
	if d.MaxBinding == 0 {
		d.MaxBinding = 128 << 20
	}
	if d.scratch, err = d.NewTensor(4); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Name describes the adapter ("llvmpipe (LLVM 19.1.7, 256 bits) vulkan").
func (d *Device) Name() string {
	return fmt.Sprintf("%s (%s)", strings.TrimSpace(d.info.Name), platform)
}

// Limits are the device's limits.
func (d *Device) Limits() wgpu.Limits { return d.limits }

// Close releases the device and everything compiled on it.
func (d *Device) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	func() {
		defer func() { recover() }()
		for _, k := range d.kernels {
			k.release()
		}
		if d.scratch != nil {
			d.scratch.buf.Release()
		}
		d.kernels = nil
		d.dev.Release()
		d.ad.Release()
		d.inst.Release()
	}()
}

// Recover, deferred by every call that reaches wgpu, turns a panic of the
// driver bindings into an error naming the call (what).
func Recover(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("gpu: %s: %v", what, r)
	}
}

// Tensor is a buffer on the device, usable as a storage binding and as the
// source and destination of copies. Size is in bytes (a multiple of 4).
type Tensor struct {
	buf  *wgpu.Buffer
	Size uint64
	d    *Device
	seq  uint64 // number of the last write into it
}

// Release frees the buffer once the GPU is done with it.
func (t *Tensor) Release() {
	if t == nil || t.buf == nil {
		return
	}
	d := t.d
	d.wmu.Lock()
	pending := t.seq > d.done
	d.wmu.Unlock()
	if pending {
		d.Sync() // an error here means the device is gone: release anyway
	}
	func() {
		defer func() { recover() }() // a lost device may refuse; the buffer goes with it
		t.buf.Release()
	}()
	t.buf = nil
}

// Sync waits until everything submitted and written so far has reached the
// device.
func (d *Device) Sync() error {
	_, err := d.Read(d.scratch, 0, 4)
	return err
}

// NewTensor allocates size bytes (rounded up to 4) on the device. Asking
// for more than the device allows is an error.
func (d *Device) NewTensor(size uint64) (t *Tensor, err error) {
	defer Recover(&err, "allocate")
	size = (max(size, 4) + 3) &^ 3
	if lim := d.limits.MaxBufferSize; lim > 0 && size > lim {
		return nil, fmt.Errorf("gpu: a buffer of %d bytes exceeds the device's limit of %d", size, lim)
	}
	if err := d.alive(); err != nil {
		return nil, err
	}
	if d.injected(&d.fault.Alloc) {
		return nil, fmt.Errorf("%w: allocating %d bytes failed (fault injected by a test)", ErrOutOfMemory, size)
	}
	b, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: size,
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst})
	if err != nil {
		return nil, fmt.Errorf("%w: allocating %d bytes: %v", ErrOutOfMemory, size, err)
	}
	return &Tensor{buf: b, Size: size, d: d}, nil
}

// Write copies data (its length rounded up to 4 with zeros) into t at off.
func (d *Device) Write(t *Tensor, off uint64, data []byte) (err error) {
	defer Recover(&err, "write")
	if len(data)%4 != 0 {
		data = append(append([]byte(nil), data...), make([]byte, 4-len(data)%4)...)
	}
	if off+uint64(len(data)) > t.Size {
		return fmt.Errorf("gpu: write of %d bytes at %d past a %d-byte tensor", len(data), off, t.Size)
	}
	if len(data) == 0 {
		return nil
	}
	if err := d.alive(); err != nil {
		return err
	}
	d.wmu.Lock()
	d.seq++
	t.seq = d.seq
	d.wmu.Unlock()
	return d.queue.WriteBuffer(t.buf, off, data)
}

// Upload allocates a tensor holding data.
func (d *Device) Upload(data []byte) (*Tensor, error) {
	t, err := d.NewTensor(uint64(len(data)))
	if err != nil {
		return nil, err
	}
	if err := d.Write(t, 0, data); err != nil {
		t.Release()
		return nil, err
	}
	return t, nil
}

// UploadF32 allocates a tensor holding v.
func (d *Device) UploadF32(v []float32) (*Tensor, error) { return d.Upload(F32Bytes(v)) }

// UploadU32 allocates a tensor holding v.
func (d *Device) UploadU32(v []uint32) (*Tensor, error) { return d.Upload(U32Bytes(v)) }

// Zeros allocates a tensor of n zero float32s.
func (d *Device) Zeros(n int) (*Tensor, error) {
	t, err := d.NewTensor(uint64(4 * n))
	if err != nil {
		return nil, err
	}
	// Buffers start zeroed in WebGPU; write zeros anyway, as not every
	// native path guarantees it.
	if err := d.Write(t, 0, make([]byte, t.Size)); err != nil {
		t.Release()
		return nil, err
	}
	return t, nil
}

// Read copies size bytes at off of t back to the host, waiting for all
// submitted work that writes t. It fails after d.Timeout.
func (d *Device) Read(t *Tensor, off, size uint64) (out []byte, err error) {
	defer Recover(&err, "read")
	if off%4 != 0 || size%4 != 0 || off+size > t.Size {
		return nil, fmt.Errorf("gpu: read [%d, %d) of a %d-byte tensor (4-byte aligned)", off, off+size, t.Size)
	}
	if size == 0 {
		return nil, nil
	}
	if err := d.alive(); err != nil {
		return nil, err
	}
	lose, hang := d.injectedLoss()
	if lose && !hang {
		return nil, d.setLost(errors.New("lost at a read back (fault injected by a test)"))
	}
	st, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: size, Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst})
	if err != nil {
		return nil, fmt.Errorf("gpu: staging buffer of %d bytes: %w", size, err)
	}
	defer st.Release()
	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return nil, fmt.Errorf("gpu: command encoder: %w", err)
	}
	enc.CopyBufferToBuffer(t.buf, off, st, 0, size)
	cb, err := enc.Finish()
	if err != nil {
		return nil, fmt.Errorf("gpu: read back: %w", err)
	}
	d.wmu.Lock()
	seq := d.seq // writes so far are flushed by this submit
	d.wmu.Unlock()
	if _, err := d.queue.Submit(cb); err != nil {
		return nil, d.setLost(fmt.Errorf("submit: %v", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	if lose {
		// A device that stops answering (injected): the wait runs out.
		<-ctx.Done()
		return nil, d.setLost(fmt.Errorf("no answer in %s (fault injected by a test)", d.Timeout))
	}
	if err := st.Map(ctx, wgpu.MapModeRead, 0, size); err != nil {
		if ctx.Err() != nil {
			return nil, d.setLost(fmt.Errorf("no answer in %s", d.Timeout))
		}
		return nil, d.setLost(fmt.Errorf("map: %v", err))
	}
	rng, err := st.MappedRange(0, size)
	if err != nil {
		st.Unmap()
		return nil, fmt.Errorf("gpu: mapped range: %w", err)
	}
	out = append([]byte(nil), rng.Bytes()...)
	st.Unmap()
	d.wmu.Lock()
	d.done = max(d.done, seq)
	d.wmu.Unlock()
	return out, nil
}

// ReadF32 reads n float32s from the start of t.
func (d *Device) ReadF32(t *Tensor, n int) ([]float32, error) {
	b, err := d.Read(t, 0, uint64(4*n))
	if err != nil {
		return nil, err
	}
	return BytesF32(b), nil
}

// Kind is how a kernel binds a buffer.
type Kind int

const (
	Read      Kind = iota // read-only storage
	ReadWrite             // read-write storage
	Uniform               // the parameters, always the last binding
)

// Kernel is a compiled compute pipeline and the layout of its bindings
// (numbered 0, 1, ... in order).
type Kernel struct {
	Name  string
	pipe  *wgpu.ComputePipeline
	bgl   *wgpu.BindGroupLayout
	pl    *wgpu.PipelineLayout
	sm    *wgpu.ShaderModule
	kinds []Kind
}

func (k *Kernel) release() {
	k.pipe.Release()
	k.pl.Release()
	k.bgl.Release()
	k.sm.Release()
}

// Compile builds a kernel from WGSL source with the given entry point and
// binding kinds (binding i has kinds[i]). It is not cached.
func (d *Device) Compile(name, wgsl, entry string, kinds ...Kind) (k *Kernel, err error) {
	defer Recover(&err, "compile "+name)
	sm, err := d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{Label: name, WGSL: wgsl})
	if err != nil {
		return nil, fmt.Errorf("gpu: shader %s: %w", name, err)
	}
	entries := make([]wgpu.BindGroupLayoutEntry, len(kinds))
	for i, kd := range kinds {
		t := gputypes.BufferBindingTypeReadOnlyStorage
		switch kd {
		case ReadWrite:
			t = gputypes.BufferBindingTypeStorage
		case Uniform:
			t = gputypes.BufferBindingTypeUniform
		}
		entries[i] = wgpu.BindGroupLayoutEntry{Binding: uint32(i), Visibility: wgpu.ShaderStageCompute,
			Buffer: &gputypes.BufferBindingLayout{Type: t}}
	}
	bgl, err := d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: name, Entries: entries})
	if err != nil {
		sm.Release()
		return nil, fmt.Errorf("gpu: %s bind group layout: %w", name, err)
	}
	pl, err := d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: name, BindGroupLayouts: []*wgpu.BindGroupLayout{bgl}})
	if err != nil {
		bgl.Release()
		sm.Release()
		return nil, fmt.Errorf("gpu: %s pipeline layout: %w", name, err)
	}
	pipe, err := d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{Label: name, Layout: pl, Module: sm, EntryPoint: entry})
	if err != nil {
		pl.Release()
		bgl.Release()
		sm.Release()
		return nil, fmt.Errorf("gpu: %s pipeline: %w", name, err)
	}
	return &Kernel{Name: name, pipe: pipe, bgl: bgl, pl: pl, sm: sm, kinds: kinds}, nil
}

// Kernel returns the compiled kernel for an entry point of the named
// shaders (concatenated in order, e.g. "wload_bf16", "matmul"), compiling it
// once per device.
func (d *Device) Kernel(files []string, entry string, kinds ...Kind) (*Kernel, error) {
	key := strings.Join(files, "+") + ":" + entry
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("gpu: device closed")
	}
	if k, ok := d.kernels[key]; ok {
		return k, nil
	}
	var src strings.Builder
	for _, f := range files {
		src.WriteString(shaders.Source(f))
		src.WriteString("\n")
	}
	k, err := d.Compile(key, src.String(), entry, kinds...)
	if err != nil {
		return nil, err
	}
	d.kernels[key] = k
	return k, nil
}

// Pass records dispatches into one command buffer; Submit sends them. The
// first error sticks and is returned by Submit.
type Pass struct {
	d     *Device
	enc   *wgpu.CommandEncoder
	cp    *wgpu.ComputePassEncoder
	temps []*wgpu.Buffer
	bgs   []*wgpu.BindGroup
	err   error
	n     int
}

// NewPass starts recording.
func (d *Device) NewPass() (p *Pass, err error) {
	defer Recover(&err, "new pass")
	if err := d.alive(); err != nil {
		return nil, err
	}
	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return nil, fmt.Errorf("gpu: command encoder: %w", err)
	}
	cp, err := enc.BeginComputePass(nil)
	if err != nil {
		return nil, fmt.Errorf("gpu: compute pass: %w", err)
	}
	return &Pass{d: d, enc: enc, cp: cp}, nil
}

// Fail records err (when it is the first), so Submit returns it and
// submits nothing: a caller's failure while recording ends the pass.
func (p *Pass) Fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// Dispatch records kernel k over groups workgroups with the given
// parameters (the uniform, last binding) and buffers (the others, in
// binding order). Dispatches see each other's writes in order.
func (p *Pass) Dispatch(k *Kernel, groups [3]uint32, params []uint32, bufs ...*Tensor) {
	if p.err != nil {
		return
	}
	defer Recover(&p.err, "dispatch "+k.Name)
	if groups[0] == 0 || groups[1] == 0 || groups[2] == 0 {
		return
	}
	if lim := p.d.limits.MaxComputeWorkgroupsPerDimension; lim > 0 && (groups[0] > lim || groups[1] > lim || groups[2] > lim) {
		p.err = fmt.Errorf("gpu: %s: %v workgroups exceed the device's %d per dimension", k.Name, groups, lim)
		return
	}
	nb := len(bufs)
	if params != nil {
		nb++
	}
	if nb != len(k.kinds) {
		p.err = fmt.Errorf("gpu: %s takes %d bindings, got %d", k.Name, len(k.kinds), nb)
		return
	}
	entries := make([]wgpu.BindGroupEntry, 0, nb)
	for i, t := range bufs {
		if t == nil || t.buf == nil {
			p.err = fmt.Errorf("gpu: %s: binding %d is not a live tensor", k.Name, i)
			return
		}
		if t.Size > p.d.limits.MaxStorageBufferBindingSize && p.d.limits.MaxStorageBufferBindingSize > 0 {
			p.err = fmt.Errorf("gpu: %s: binding %d is %d bytes, more than the device's %d per binding", k.Name, i, t.Size, p.d.limits.MaxStorageBufferBindingSize)
			return
		}
		entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(i), Buffer: t.buf, Size: t.Size})
	}
	if params != nil {
		words := (len(params) + 3) &^ 3
		b := make([]byte, 4*words)
		for i, v := range params {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
		ub, err := p.d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: uint64(len(b)), Usage: wgpu.BufferUsageUniform | wgpu.BufferUsageCopyDst})
		if err != nil {
			p.err = fmt.Errorf("gpu: %s params: %w", k.Name, err)
			return
		}
		p.temps = append(p.temps, ub)
		if err := p.d.queue.WriteBuffer(ub, 0, b); err != nil {
			p.err = fmt.Errorf("gpu: %s params: %w", k.Name, err)
			return
		}
		entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(len(bufs)), Buffer: ub, Size: uint64(len(b))})
	}
	bg, err := p.d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: k.Name, Layout: k.bgl, Entries: entries})
	if err != nil {
		p.err = fmt.Errorf("gpu: %s bind group: %w", k.Name, err)
		return
	}
	p.bgs = append(p.bgs, bg)
	p.cp.SetPipeline(k.pipe)
	p.cp.SetBindGroup(0, bg, nil)
	p.cp.Dispatch(groups[0], groups[1], groups[2])
	p.n++
}

// Submit ends recording and sends the work to the queue (without waiting
// for it). The pass cannot be used afterwards.
func (p *Pass) Submit() (err error) {
	defer Recover(&err, "submit")
	defer p.release()
	if p.err != nil {
		// Close the pass and release the unsubmitted command buffer
		// (gogpu/wgpu v0.31.5's DiscardEncoding corrupts its encoder pool:
		// the next submit crashes).
		p.cp.End()
		if cb, err := p.enc.Finish(); err == nil {
			cb.Release()
		}
		// The parameter buffers' staged writes are flushed by a submit
		// only; flush them before the buffers go.
		p.d.Sync()
		return p.err
	}
	if err := p.cp.End(); err != nil {
		return fmt.Errorf("gpu: end pass: %w", err)
	}
	cb, err := p.enc.Finish()
	if err != nil {
		return fmt.Errorf("gpu: finish: %w", err)
	}
	if err := p.d.alive(); err != nil {
		cb.Release()
		return err
	}
	if _, err := p.d.queue.Submit(cb); err != nil {
		return p.d.setLost(fmt.Errorf("submit: %v", err))
	}
	return nil
}

func (p *Pass) release() {
	for _, b := range p.bgs {
		b.Release()
	}
	for _, b := range p.temps {
		b.Release()
	}
	p.bgs, p.temps = nil, nil
}

// Grid spreads n workgroups over x and y so neither passes the 65535 a
// dimension may hold; kernels rebuild the index as
// wg.x + wg.y * num_workgroups.x.
func Grid(n int) [3]uint32 {
	if n <= 0 {
		return [3]uint32{0, 1, 1}
	}
	const maxX = 32768
	if n <= maxX {
		return [3]uint32{uint32(n), 1, 1}
	}
	return [3]uint32{maxX, uint32((n + maxX - 1) / maxX), 1}
}

// F32Bytes is v as little-endian bytes.
func F32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// U32Bytes is v as little-endian bytes.
func U32Bytes(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, u := range v {
		binary.LittleEndian.PutUint32(b[4*i:], u)
	}
	return b
}

// BytesF32 reads little-endian float32s.
func BytesF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// F is a float parameter as the uniform word the shaders read with bitcast.
func F(v float32) uint32 { return math.Float32bits(v) }
