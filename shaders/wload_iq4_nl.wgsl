// wload for IQ4_NL weights: blocks of 32 values, an f16 scale d then 16
// bytes whose low nibbles index values 0-15 and high nibbles 16-31 into
// the 16 non-linear levels; value = d * level.
fn wload(i: u32) -> f32 {
  let o = (i / 32u) * 18u;
  let j = i % 32u;
  let b = qbyte(o + 2u + j % 16u);
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return qhalf(o) * qiq4_level(q);
}
