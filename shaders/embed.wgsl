// embed: Y[t] = row ids[t] of the table W ([vocab, dim], read through
// wload in its file dtype); the twin of ops.Embed. The table may be one
// chunk of rows [lo, lo + rows): rows outside it are left to other chunks.

struct P { n: u32, dim: u32, lo: u32, rows: u32 };

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n * p.dim) { return; }
  let t = i / p.dim;
  let c = i % p.dim;
  let id = ids[t];
  if (id < p.lo || id >= p.lo + p.rows) { return; }
  Y[i] = wload((id - p.lo) * p.dim + c);
}
