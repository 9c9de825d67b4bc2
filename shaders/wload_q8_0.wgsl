// wload for Q8_0 weights: blocks of 32 values, an f16 scale d then 32
// signed bytes q; value = q * d (as ggml's dequantize_row_q8_0).
fn wload(i: u32) -> f32 {
  let o = (i / 32u) * 34u;
  return f32(qi8(o + 2u + i % 32u)) * qhalf(o);
}
