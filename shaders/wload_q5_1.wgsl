// wload for Q5_1 weights: blocks of 32 values, f16 d and m, the fifth bits
// (u32), then low nibbles; value = q * d + m.
fn wload(i: u32) -> f32 {
  let o = (i / 32u) * 24u;
  let j = i % 32u;
  let b = qbyte(o + 8u + j % 16u);
  let lo = select(b & 15u, b >> 4u, j >= 16u);
  let q = lo | (((qu32(o + 4u) >> j) & 1u) << 4u);
  return f32(q) * qhalf(o) + qhalf(o + 2u);
}
