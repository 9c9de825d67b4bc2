// wload for Q5_0 weights: blocks of 32 values, f16 d, a u32 whose bit j is
// value j's fifth bit, then low nibbles as Q4_0; value = (q - 16) * d.
fn wload(i: u32) -> f32 {
  let o = (i / 32u) * 22u;
  let j = i % 32u;
  let b = qbyte(o + 6u + j % 16u);
  let lo = select(b & 15u, b >> 4u, j >= 16u);
  let q = lo | (((qu32(o + 2u) >> j) & 1u) << 4u);
  return f32(i32(q) - 16) * qhalf(o);
}
