// rmsnorm: Y[t] = X[t] / sqrt(mean(X[t]^2) + eps) * W, one workgroup per
// row; the twin of ops.RMSNorm. Also the per-head q/k norm (rows = heads).

struct P { n: u32, dim: u32, eps: f32, pad: u32 };

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = wg.x + wg.y * nw.x;
  if (t >= p.n) { return; }
  let base = t * p.dim;
  var ss = 0.0;
  for (var i = li; i < p.dim; i += 64u) {
    let v = X[base + i];
    ss += v * v;
  }
  part[li] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(part[0] / f32(p.dim) + p.eps);
  for (var i = li; i < p.dim; i += 64u) {
    Y[base + i] = X[base + i] * inv * W[i];
  }
}
