// swiglu: A[i] = silu(G[i]) * A[i], silu(g) = g / (1 + exp(-g)); the twin
// of ops.SwiGLU with the up projection in A.

struct P { n: u32, a: u32, b: u32, c: u32 };

@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n) { return; }
  let g = G[i];
  A[i] = g / (1.0 + exp(-g)) * A[i];
}
