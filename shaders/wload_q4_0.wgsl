// wload for Q4_0 weights: blocks of 32 values, an f16 scale d then 16
// bytes whose low nibbles are values 0-15 and high nibbles 16-31;
// value = (q - 8) * d.
fn wload(i: u32) -> f32 {
  let o = (i / 32u) * 18u;
  let j = i % 32u;
  let b = qbyte(o + 2u + j % 16u);
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return f32(i32(q) - 8) * qhalf(o);
}
