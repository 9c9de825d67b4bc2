// wload for f16 weights: W holds the file's bytes, two IEEE half values per
// u32 (element 2k in the low half), widened with unpack2x16float (no
// shader-f16 needed).
@group(0) @binding(1) var<storage, read> W: array<u32>;

fn wload(i: u32) -> f32 {
  let v = unpack2x16float(W[i >> 1u]);
  return select(v.x, v.y, (i & 1u) == 1u);
}
