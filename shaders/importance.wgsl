// importance: the unit statistics of DESIGN §1, accumulated on the device;
// the twin of ops.SumSquaresByDoc and ops.ColumnSums (and of the per-group
// sums of model.CPU's groupOutputs).
//
//   by_doc:  ACC[off + d*w + c] += sum over document d's rows of X[r, c]^2
//            (FFN neuron c; one invocation per column and document)
//   columns: ACC[off + c] += sum_r X[r, c], ACC[off2 + c] += sum_r X[r, c]^2
//   group:   ACC[off + d*off2] += sum over document d's rows of |X[r]|^2
//            (one KV group's o_proj output; one workgroup per document)
//
// D holds the documents as (start row, length) pairs.

struct P { n: u32, w: u32, off: u32, off2: u32, docs: u32, a: u32, b: u32, c: u32 };

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> D: array<u32>;
@group(0) @binding(2) var<storage, read_write> ACC: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(64)
fn by_doc(@builtin(global_invocation_id) g: vec3<u32>) {
  let c = g.x;
  let d = g.y;
  if (c >= p.w || d >= p.docs) { return; }
  let start = D[2u * d];
  let len = D[2u * d + 1u];
  var s = 0.0;
  for (var r = start; r < start + len; r++) {
    let v = X[r * p.w + c];
    s += v * v;
  }
  ACC[p.off + d * p.w + c] += s;
}

@compute @workgroup_size(64)
fn columns(@builtin(global_invocation_id) g: vec3<u32>) {
  let c = g.x;
  if (c >= p.w) { return; }
  var s = 0.0;
  var q = 0.0;
  for (var r = 0u; r < p.n; r++) {
    let v = X[r * p.w + c];
    s += v;
    q += v * v;
  }
  ACC[p.off + c] += s;
  ACC[p.off2 + c] += q;
}

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn group(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let d = wg.x;
  let start = D[2u * d] * p.w;
  let end = start + D[2u * d + 1u] * p.w;
  var s = 0.0;
  for (var i = start + li; i < end; i += 256u) {
    let v = X[i];
    s += v * v;
  }
  part[li] = s;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) {
    if (li < k) { part[li] += part[li + k]; }
    workgroupBarrier();
  }
  if (li == 0u) { ACC[p.off + d * p.off2] += part[0]; }
}
