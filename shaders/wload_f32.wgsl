// wload for f32 weights: W holds the file's float32 values.
@group(0) @binding(1) var<storage, read> W: array<f32>;

fn wload(i: u32) -> f32 {
  return W[i];
}
