package ops

// SumSquaresByDoc adds, for each document d and each column c of x
// ([n, width]), the sum over the document's rows of x[r, c]^2 into
// acc[d][c]. This is the per-document statistic behind an FFN neuron's
// deactivation importance: ||a[:,k]||_2^2 over the document's tokens.
func SumSquaresByDoc(acc [][]float32, x []float32, docs []Span, width int) {
	for d, doc := range docs {
		a := acc[d][:width]
		for r := doc.Start; r < doc.Start+doc.Len; r++ {
			row := x[r*width : (r+1)*width]
			for c, v := range row {
				a[c] += float32(v * v)
			}
		}
	}
}

// ColumnSums adds the sum over all rows of x[r, c] to sum[c] and of
// x[r, c]^2 to sq[c]: the input statistics Wanda-sp and FLAP use.
func ColumnSums(sum, sq []float64, x []float32, n, width int) {
	for r := 0; r < n; r++ {
		row := x[r*width : (r+1)*width]
		for c, v := range row {
			sum[c] += float64(v)
			sq[c] += float64(float64(v) * float64(v))
		}
	}
}
