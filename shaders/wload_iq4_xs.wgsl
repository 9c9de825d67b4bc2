// wload for IQ4_XS weights: super-blocks of 256 values in 136 bytes: f16
// d, a u16 of the 8 runs' high scale bits (2 each), 4 bytes of their low
// scale nibbles (two runs a byte), then 8 runs of 16 bytes of indices laid
// out as IQ4_NL's. Run r = e/32 has scale ls - 32 (ls its 6 bits); value
// = (d * (ls - 32)) * level.
fn wload(i: u32) -> f32 {
  let o = (i / 256u) * 136u;
  let e = i % 256u;
  let r = e / 32u;
  let j = e % 32u;
  let hi = (qbyte(o + 2u + r / 4u) >> (2u * (r % 4u))) & 3u;
  let lo = (qbyte(o + 4u + r / 2u) >> (4u * (r % 2u))) & 15u;
  let ls = i32(lo | (hi << 4u)) - 32;
  let b = qbyte(o + 8u + 16u * r + j % 16u);
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return (qhalf(o) * f32(ls)) * qiq4_level(q);
}
