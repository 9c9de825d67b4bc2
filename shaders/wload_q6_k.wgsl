// wload for Q6_K weights: super-blocks of 256 values in 210 bytes: 128
// bytes of low nibbles, 64 of high bit pairs, 16 signed 8-bit scales (one
// per 16 values), f16 d. In half n = e/128, group g = (e%128)/32 and lane
// l = e%32: the nibble is ql[64n + l + 32*(g&1)] (high nibble for g >= 2),
// the high bits (qh[32n + l] >> 2g) & 3; value = d*scale * (q - 32).
fn wload(i: u32) -> f32 {
  let o = (i / 256u) * 210u;
  let e = i % 256u;
  let n = e / 128u;
  let g = (e % 128u) / 32u;
  let l = e % 32u;
  let b = qbyte(o + 64u * n + l + 32u * (g & 1u));
  let lo = select(b & 15u, b >> 4u, g >= 2u);
  let q = i32(lo | (((qbyte(o + 128u + 32u * n + l) >> (2u * g)) & 3u) << 4u)) - 32;
  let sc = qi8(o + 192u + 8u * n + l / 16u + 2u * g);
  return (qhalf(o + 208u) * f32(sc)) * f32(q);
}
