// attention: causal grouped-query attention over many documents packed one
// after another; the twin of ops.Attention. One workgroup per (query head,
// row): it walks the row's keys (the rows of its document up to itself) in
// tiles of 64 with an online softmax, each invocation holding up to four
// of the head's output dimensions. Query head h reads KV head
// h / (heads / kvHeads); scores are scaled by 1/sqrt(headDim).

struct P { n: u32, heads: u32, kvh: u32, hd: u32, row0: u32, scale: f32, a: u32, b: u32 };

@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read> RS: array<u32>; // first row of each row's document
@group(0) @binding(4) var<storage, read_write> Z: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let r = p.row0 + wg.y;
  if (r >= p.n) { return; }
  let kh = h / (p.heads / p.kvh);
  let qw = p.heads * p.hd;
  let kw = p.kvh * p.hd;
  for (var e = li; e < p.hd; e += 64u) { qs[e] = Q[r * qw + h * p.hd + e]; }
  workgroupBarrier();
  let s0 = RS[r];
  let cnt = r - s0 + 1u;
  var m = -3.0e38;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = 0u; j0 < cnt; j0 += 64u) {
    let j = j0 + li;
    var s = -3.0e38;
    if (j < cnt) {
      let kb = (s0 + j) * kw + kh * p.hd;
      var d = 0.0;
      for (var e = 0u; e < p.hd; e++) { d += qs[e] * K[kb + e]; }
      s = d * p.scale;
    }
    sc[li] = s;
    workgroupBarrier();
    let tn = min(64u, cnt - j0);
    var tm = m;
    for (var t = 0u; t < tn; t++) { tm = max(tm, sc[t]); }
    workgroupBarrier();
    sc[li] = exp(s - tm); // 0 for the padding past tn
    workgroupBarrier();
    let corr = exp(m - tm);
    l *= corr;
    for (var i = 0u; i < 4u; i++) { acc[i] *= corr; }
    for (var t = 0u; t < tn; t++) {
      let pt = sc[t];
      l += pt;
      let vb = (s0 + j0 + t) * kw + kh * p.hd;
      for (var i = 0u; i < 4u; i++) {
        let e = li + 64u * i;
        if (e < p.hd) { acc[i] += pt * V[vb + e]; }
      }
    }
    m = tm;
    workgroupBarrier();
  }
  let inv = 1.0 / l;
  for (var i = 0u; i < 4u; i++) {
    let e = li + 64u * i;
    if (e < p.hd) { Z[r * qw + h * p.hd + e] = acc[i] * inv; }
  }
}
