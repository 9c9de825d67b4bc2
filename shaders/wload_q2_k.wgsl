// wload for Q2_K weights: super-blocks of 256 values in 84 bytes: 16 bytes
// of 4-bit scale (low) and min (high) per 16 values, 64 bytes of 2-bit
// levels, f16 d and dmin. Value e sits in half n = e/128, shift 2*((e%128)/32),
// byte 32n + e%16 + 16*((e%32)/16); value = d*scale * q - dmin*min.
fn wload(i: u32) -> f32 {
  let o = (i / 256u) * 84u;
  let e = i % 256u;
  let n = e / 128u;
  let r = e % 128u;
  let j = r / 32u;
  let h = (r % 32u) / 16u;
  let sc = qbyte(o + n * 8u + j * 2u + h);
  let q = (qbyte(o + 16u + n * 32u + r % 16u + 16u * h) >> (2u * j)) & 3u;
  let dl = qhalf(o + 80u) * f32(sc & 15u);
  let ml = qhalf(o + 82u) * f32(sc >> 4u);
  return dl * f32(q) - ml;
}
