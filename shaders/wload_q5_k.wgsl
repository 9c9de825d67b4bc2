// wload for Q5_K weights: Q4_K's layout with 32 bytes of fifth bits (qh)
// before the nibbles: value e's fifth bit is bit 2*(e/64) + ((e%64)/32) of
// qh[e%32].
fn wload(i: u32) -> f32 {
  let o = (i / 256u) * 176u;
  let e = i % 256u;
  let g = e / 64u;
  let hsel = select(0u, 1u, (e % 64u) >= 32u);
  let sm = qscale_min_k4(2u * g + hsel, o + 4u);
  let b = qbyte(o + 48u + g * 32u + e % 32u);
  let lo = select(b & 15u, b >> 4u, hsel == 1u);
  let q = lo + 16u * ((qbyte(o + 16u + e % 32u) >> (2u * g + hsel)) & 1u);
  return (qhalf(o) * f32(sm.x)) * f32(q) - qhalf(o + 2u) * f32(sm.y);
}
