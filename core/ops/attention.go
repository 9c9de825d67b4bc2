package ops

import "math"

// Span is one document's run of rows in a batch: rows [Start, Start+Len)
// of the activations, whose first row sits at position Past (the number of
// earlier tokens of that document already in its KV cache).
type Span struct{ Start, Len, Past int }

// Attention is causal grouped-query attention over many documents at once.
// q is [n, heads*headDim]; k and v are [n, kvHeads*headDim] for the batch
// rows. For a document with Past > 0, pastK/pastV[d] hold its earlier keys
// and values ([Past, kvHeads*headDim]); nil when nothing is cached.
// Query head h reads KV head h / (heads/kvHeads). z receives the attention
// output, [n, heads*headDim]. Scores are scaled by 1/sqrt(headDim).
func Attention(z, q, k, v []float32, docs []Span, pastK, pastV [][]float32, heads, kvHeads, headDim int) {
	group := heads / kvHeads
	qw, kw := heads*headDim, kvHeads*headDim
	scale := float32(1 / math.Sqrt(float64(headDim)))
	type job struct{ d, h int }
	jobs := make([]job, 0, len(docs)*heads)
	for d := range docs {
		for h := 0; h < heads; h++ {
			jobs = append(jobs, job{d, h})
		}
	}
	parallel(len(jobs), 1, func(lo, hi int) {
		var p []float32
		for _, jb := range jobs[lo:hi] {
			doc, h := docs[jb.d], jb.h
			kh := h / group
			var pk, pv []float32
			if pastK != nil {
				pk, pv = pastK[jb.d], pastV[jb.d]
			}
			key := func(j int) []float32 {
				if j < doc.Past {
					return pk[j*kw+kh*headDim : j*kw+(kh+1)*headDim]
				}
				r := doc.Start + j - doc.Past
				return k[r*kw+kh*headDim : r*kw+(kh+1)*headDim]
			}
			val := func(j int) []float32 {
				if j < doc.Past {
					return pv[j*kw+kh*headDim : j*kw+(kh+1)*headDim]
				}
				r := doc.Start + j - doc.Past
				return v[r*kw+kh*headDim : r*kw+(kh+1)*headDim]
			}
			for i := 0; i < doc.Len; i++ {
				r := doc.Start + i
				qr := q[r*qw+h*headDim : r*qw+(h+1)*headDim]
				ctx := doc.Past + i + 1 // causal: keys 0..Past+i
				if cap(p) < ctx {
					p = make([]float32, ctx)
				}
				p = p[:ctx]
				m := float32(math.Inf(-1))
				for j := range p {
					p[j] = dot(qr, key(j)) * scale
					m = max(m, p[j])
				}
				var sum float32
				for j := range p {
					p[j] = float32(math.Exp(float64(p[j] - m)))
					sum += p[j]
				}
				out := z[r*qw+h*headDim : r*qw+(h+1)*headDim]
				clear(out)
				inv := 1 / sum
				for j, pj := range p {
					w := pj * inv
					for e, ve := range val(j) {
						out[e] += w * ve
					}
				}
			}
		}
	})
}
