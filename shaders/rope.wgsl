// rope: rotate, in place, dimensions i and i + half of every head of X
// ([n, heads*headDim]) by the row's angle table: the "half split" layout of
// Hugging Face, the twin of ops.Rope. C and S ([n, half]) hold cos and sin
// of position * inv_freq, times the scale, computed on the host in float64
// as ops.Rope does; dimensions past 2*half pass through (partial rotary).

struct P { n: u32, heads: u32, hd: u32, half: u32 };

@group(0) @binding(0) var<storage, read_write> X: array<f32>;
@group(0) @binding(1) var<storage, read> C: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let idx = g.x + g.y * nw.x * 64u;
  if (idx >= p.n * p.heads * p.half) { return; }
  let i = idx % p.half;
  let th = idx / p.half; // t * heads + h
  let t = th / p.heads;
  let base = th * p.hd;
  let c = C[t * p.half + i];
  let s = S[t * p.half + i];
  let a = X[base + i];
  let b = X[base + i + p.half];
  X[base + i] = a * c - b * s;
  X[base + i + p.half] = b * c + a * s;
}
