// wload for Q3_K weights: super-blocks of 256 values in 110 bytes: 32 bytes
// of high bits (hmask), 64 of 2-bit levels, 12 of packed 6-bit scales, f16 d.
// Level = low 2 bits, minus 4 when the hmask bit is clear; value =
// d * (scale - 32) * level.
fn wload(i: u32) -> f32 {
  let o = (i / 256u) * 110u;
  let e = i % 256u;
  let n = e / 128u;
  let r = e % 128u;
  let j = r / 32u;
  let l = r % 32u;
  let is = n * 8u + j * 2u + l / 16u;
  let sb = qbyte(o + 96u + is % 8u);
  let lo = select(sb >> 4u, sb & 15u, is < 8u);
  let hi = (qbyte(o + 104u + is % 4u) >> (2u * (is / 4u))) & 3u;
  let sc = i32(lo | (hi << 4u)) - 32;
  var q = i32((qbyte(o + 32u + n * 32u + l) >> (2u * j)) & 3u);
  if ((qbyte(o + l) & (1u << (n * 4u + j))) == 0u) {
    q -= 4;
  }
  return (qhalf(o + 108u) * f32(sc)) * f32(q);
}
