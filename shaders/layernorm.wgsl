// layernorm: Y[t] = (X[t] - mean) / sqrt(var + eps) * W + B, one workgroup
// per row; the twin of ops.LayerNorm (phi). Two-pass: mean, then variance.

struct P { n: u32, dim: u32, eps: f32, pad: u32 };

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

var<workgroup> part: array<f32, 64>;

fn reduce(li: u32) -> f32 {
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = wg.x + wg.y * nw.x;
  if (t >= p.n) { return; }
  let base = t * p.dim;
  var s = 0.0;
  for (var i = li; i < p.dim; i += 64u) { s += X[base + i]; }
  part[li] = s;
  let mean = reduce(li) / f32(p.dim);
  var ss = 0.0;
  for (var i = li; i < p.dim; i += 64u) {
    let d = X[base + i] - mean;
    ss += d * d;
  }
  part[li] = ss;
  let inv = inverseSqrt(reduce(li) / f32(p.dim) + p.eps);
  for (var i = li; i < p.dim; i += 64u) {
    Y[base + i] = (X[base + i] - mean) * inv * W[i] + B[i];
  }
}
