// wload for Q4_1 weights: blocks of 32 values, f16 d and m, then nibbles
// as Q4_0; value = q * d + m.
fn wload(i: u32) -> f32 {
  let o = (i / 32u) * 20u;
  let j = i % 32u;
  let b = qbyte(o + 4u + j % 16u);
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return f32(q) * qhalf(o) + qhalf(o + 2u);
}
