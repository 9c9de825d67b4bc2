// matmul_regs: the same product as matmul.wgsl (see there for the
// parameters) with no workgroup memory and no barriers: each invocation
// computes a 4x4 block of Y straight from X and W, four vec4 accumulators.
// CPU drivers (lavapipe, SwiftShader) run barrier-free kernels far faster,
// and their caches do what workgroup memory would.

struct P {
  n: u32, kn: u32, m: u32, flags: u32,
  xs: u32, xo: u32, ws: u32, wo: u32,
  ys: u32, yo: u32, bo: u32, pad: u32,
};

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

fn store(r: u32, c0: u32, v: vec4<f32>) {
  if (r >= p.n) { return; }
  for (var j = 0u; j < 4u; j++) {
    let c = c0 + j;
    if (c < p.m) {
      var o = v[j];
      if ((p.flags & 1u) != 0u) { o += B[p.bo + c]; }
      let at = r * p.ys + p.yo + c;
      if ((p.flags & 2u) != 0u) { o += Y[at]; }
      Y[at] = o;
    }
  }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let r0 = g.y * 4u;
  let c0 = g.x * 4u;
  if (r0 >= p.n || c0 >= p.m) { return; }
  // Rows and columns past the edge re-read the last valid one; their
  // results are not stored.
  let xr0 = min(r0, p.n - 1u) * p.xs + p.xo;
  let xr1 = min(r0 + 1u, p.n - 1u) * p.xs + p.xo;
  let xr2 = min(r0 + 2u, p.n - 1u) * p.xs + p.xo;
  let xr3 = min(r0 + 3u, p.n - 1u) * p.xs + p.xo;
  let wr0 = min(c0, p.m - 1u) * p.ws + p.wo;
  let wr1 = min(c0 + 1u, p.m - 1u) * p.ws + p.wo;
  let wr2 = min(c0 + 2u, p.m - 1u) * p.ws + p.wo;
  let wr3 = min(c0 + 3u, p.m - 1u) * p.ws + p.wo;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var k = 0u; k < p.kn; k++) {
    let w = vec4<f32>(wload(wr0 + k), wload(wr1 + k), wload(wr2 + k), wload(wr3 + k));
    a0 += X[xr0 + k] * w;
    a1 += X[xr1 + k] * w;
    a2 += X[xr2 + k] * w;
    a3 += X[xr3 + k] * w;
  }
  store(r0, c0, a0);
  store(r0 + 1u, c0, a1);
  store(r0 + 2u, c0, a2);
  store(r0 + 3u, c0, a3);
}
