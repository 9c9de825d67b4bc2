// wload for Q4_K weights: super-blocks of 256 values in 144 bytes: f16 d
// and dmin, 12 bytes of 6-bit scales and mins for eight sub-blocks of 32,
// then 128 bytes of nibbles (per 64 values: 32 bytes, low nibbles first).
// value = d*scale * q - dmin*min.
fn wload(i: u32) -> f32 {
  let o = (i / 256u) * 144u;
  let e = i % 256u;
  let g = e / 64u;
  let hi = (e % 64u) >= 32u;
  let sm = qscale_min_k4(2u * g + select(0u, 1u, hi), o + 4u);
  let b = qbyte(o + 16u + g * 32u + e % 32u);
  let q = select(b & 15u, b >> 4u, hi);
  return (qhalf(o) * f32(sm.x)) * f32(q) - qhalf(o + 2u) * f32(sm.y);
}
