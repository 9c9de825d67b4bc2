package ops

// Embed copies row ids[t] of table ([vocab, dim]) into y[t].
func Embed(y, table []float32, ids []int, dim int) {
	for t, id := range ids {
		copy(y[t*dim:(t+1)*dim], table[id*dim:(id+1)*dim])
	}
}

// Add writes y[i] += x[i].
func Add(y, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += x[i]
	}
}
