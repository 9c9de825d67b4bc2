// wload for bf16 weights: W holds the file's bytes, two bfloat16 values per
// u32 (little endian: element 2k in the low half). A bfloat16 is the top
// half of a float32.
@group(0) @binding(1) var<storage, read> W: array<u32>;

fn wload(i: u32) -> f32 {
  let w = W[i >> 1u];
  let h = select(w & 0xffffu, w >> 16u, (i & 1u) == 1u);
  return bitcast<f32>(h << 16u);
}
