// matmul: Y[t, yo + j] (+)= sum_k X[t, xo + k] * W[j, wo + k] (+ B[bo + j])
// for t < n, j < m, k < kn: y = x W^T as Hugging Face stores linear layers
// ([out, in]); the twin of ops.MatMul. The offsets and strides let one
// kernel serve a slice of the reduction (one KV group's columns of o_proj),
// a chunk of weight rows bound on its own (weights larger than one binding)
// and accumulation into the residual stream. W comes through wload
// (wload_*.wgsl), in the weight's file dtype.
//
// One output per invocation, 16x16 tiles of X and W staged in workgroup
// memory: quick to compile everywhere (a CPU Vulkan driver JITs it in about
// a second). matmul_tiled.wgsl is the register-blocked variant for GPUs.
// flags: 1 add the bias B, 2 accumulate into Y.

struct P {
  n: u32, kn: u32, m: u32, flags: u32,  // rows of X, reduction length, rows of W (outputs), flags
  xs: u32, xo: u32, ws: u32, wo: u32,   // X row stride and column offset; W the same
  ys: u32, yo: u32, bo: u32, pad: u32,  // Y row stride and column offset; bias offset
};
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
var<workgroup> xt: array<f32, 256>;
var<workgroup> wt: array<f32, 256>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = wg.y * 16u + lid.y;
  let c = wg.x * 16u + lid.x;
  let wr = wg.x * 16u + lid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.kn; k0 += 16u) {
    let k = k0 + lid.x;
    var xv = 0.0;
    if (r < p.n && k < p.kn) { xv = X[r * p.xs + p.xo + k]; }
    xt[lid.y * 16u + lid.x] = xv;
    var wv = 0.0;
    if (wr < p.m && k < p.kn) { wv = wload(wr * p.ws + p.wo + k); }
    wt[lid.y * 16u + lid.x] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) { acc += xt[lid.y * 16u + kk] * wt[lid.x * 16u + kk]; }
    workgroupBarrier();
  }
  if (r < p.n && c < p.m) {
    var v = acc;
    if ((p.flags & 1u) != 0u) { v += B[p.bo + c]; }
    let at = r * p.ys + p.yo + c;
    if ((p.flags & 2u) != 0u) { v += Y[at]; }
    Y[at] = v;
  }
}
