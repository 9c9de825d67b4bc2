// gelu: the tanh approximation of GELU in place (Phi's "gelu_new"), the
// twin of ops.GeluTanh. tanh(u) is written 1 - 2/(exp(2u) + 1), which stays
// finite for any u (a driver's tanh may not).

struct P { n: u32, a: u32, b: u32, c: u32 };

@group(0) @binding(0) var<storage, read_write> A: array<f32>;
@group(0) @binding(1) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n) { return; }
  let u = A[i];
  let z = 0.7978845608028654 * (u + 0.044715 * u * u * u);
  let th = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
  A[i] = 0.5 * u * (1.0 + th);
}
