package ops

// dot4x4 computes the 4x4 block y[t..t+4, j..j+4] with sixteen running sums.
func dot4x4(y, x, w0, w1, w2, w3 []float32, t, j, in, out int) {
	x0, x1, x2, x3 := x[t*in:(t+1)*in], x[(t+1)*in:(t+2)*in], x[(t+2)*in:(t+3)*in], x[(t+3)*in:(t+4)*in]
	w0, w1, w2, w3 = w0[:in], w1[:in], w2[:in], w3[:in]
	x1, x2, x3 = x1[:in], x2[:in], x3[:in]
	var s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33 float32
	for i, a := range x0 {
		b0, b1, b2, b3 := w0[i], w1[i], w2[i], w3[i]
		s00 += a * b0
		s01 += a * b1
		s02 += a * b2
		s03 += a * b3
		a = x1[i]
		s10 += a * b0
		s11 += a * b1
		s12 += a * b2
		s13 += a * b3
		a = x2[i]
		s20 += a * b0
		s21 += a * b1
		s22 += a * b2
		s23 += a * b3
		a = x3[i]
		s30 += a * b0
		s31 += a * b1
		s32 += a * b2
		s33 += a * b3
	}
	r := y[t*out+j:]
	r[0], r[1], r[2], r[3] = s00, s01, s02, s03
	r = y[(t+1)*out+j:]
	r[0], r[1], r[2], r[3] = s10, s11, s12, s13
	r = y[(t+2)*out+j:]
	r[0], r[1], r[2], r[3] = s20, s21, s22, s23
	r = y[(t+3)*out+j:]
	r[0], r[1], r[2], r[3] = s30, s31, s32, s33
}
