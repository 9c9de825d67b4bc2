// matmul_tiled: the same product as matmul.wgsl (see there for the
// parameters), register-blocked for real GPUs: a 16x16 workgroup computes a
// 64x64 block of Y, 4x4 per invocation held in four vec4 accumulators,
// staging 64x16 tiles of X and W in workgroup memory so that each loaded
// value is used 64 times. CPU Vulkan drivers (lavapipe) take half a minute
// to JIT it, so the backend picks it only on a discrete or integrated GPU.

struct P {
  n: u32, kn: u32, m: u32, flags: u32,
  xs: u32, xo: u32, ws: u32, wo: u32,
  ys: u32, yo: u32, bo: u32, pad: u32,
};
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
const TK: u32 = 16u;
var<workgroup> xt: array<f32, 1024>;
var<workgroup> wt: array<f32, 1024>;

fn store(r: u32, c0: u32, v: vec4<f32>) {
  if (r >= p.n) { return; }
  for (var j = 0u; j < 4u; j++) {
    let c = c0 + 16u * j;
    if (c < p.m) {
      var o = v[j];
      if ((p.flags & 1u) != 0u) { o += B[p.bo + c]; }
      let at = r * p.ys + p.yo + c;
      if ((p.flags & 2u) != 0u) { o += Y[at]; }
      Y[at] = o;
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.kn; k0 += TK) {
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      let r = e / TK;
      let k = k0 + e % TK;
      var xv = 0.0;
      if (row0 + r < p.n && k < p.kn) { xv = X[(row0 + r) * p.xs + p.xo + k]; }
      xt[e] = xv;
      var wv = 0.0;
      if (col0 + r < p.m && k < p.kn) { wv = wload((col0 + r) * p.ws + p.wo + k); }
      wt[e] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let b = vec4<f32>(wt[lid.x * TK + kk], wt[(lid.x + 16u) * TK + kk], wt[(lid.x + 32u) * TK + kk], wt[(lid.x + 48u) * TK + kk]);
      c0 += xt[lid.y * TK + kk] * b;
      c1 += xt[(lid.y + 16u) * TK + kk] * b;
      c2 += xt[(lid.y + 32u) * TK + kk] * b;
      c3 += xt[(lid.y + 48u) * TK + kk] * b;
    }
    workgroupBarrier();
  }
  store(row0 + lid.y, col0 + lid.x, c0);
  store(row0 + lid.y + 16u, col0 + lid.x, c1);
  store(row0 + lid.y + 32u, col0 + lid.x, c2);
  store(row0 + lid.y + 48u, col0 + lid.x, c3);
}
