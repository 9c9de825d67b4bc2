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
//
// Per query row: s_j = dot(q, k_j) * scale (dot of dot.go), p_j =
// exp(s_j - max s) (exp32), w_j = p_j * (1 / sum_j p_j) with the sum in order
// of j, and out = sum_j w_j v_j accumulated in order of j, each column alone.
// Scores are computed for a block of query rows at once (the block kernel of
// dot.go over queries x keys); every score is the same dot product either way.
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
	const qb = 16 // query rows per score block
	parallel(len(jobs), 1, func(lo, hi int) {
		var s []float32
		for _, jb := range jobs[lo:hi] {
			doc, h := docs[jb.d], jb.h
			if doc.Len == 0 {
				continue
			}
			kh := h / group
			var pk, pv []float32
			if doc.Past > 0 {
				pk, pv = pastK[jb.d][kh*headDim:], pastV[jb.d][kh*headDim:]
			}
			kc := k[doc.Start*kw+kh*headDim:]
			vc := v[doc.Start*kw+kh*headDim:]
			for i0 := 0; i0 < doc.Len; i0 += qb {
				i1 := min(i0+qb, doc.Len)
				nq, width := i1-i0, doc.Past+i1 // keys 0..Past+i1-1 cover every row of the block
				if cap(s) < nq*width {
					s = make([]float32, nq*width)
				}
				s = s[:nq*width]
				qp := q[(doc.Start+i0)*qw+h*headDim:]
				if doc.Past > 0 {
					dots(s, width, qp, qw, pk, kw, nq, doc.Past, headDim)
				}
				dots(s[doc.Past:], width, qp, qw, kc, kw, nq, i1, headDim)
				for a := 0; a < nq; a++ {
					r := doc.Start + i0 + a
					p := s[a*width : a*width+doc.Past+i0+a+1] // causal: keys 0..Past+i
					softmax(p, scale)
					out := z[r*qw+h*headDim : r*qw+(h+1)*headDim]
					clear(out)
					if doc.Past > 0 {
						axpyRowsFn(out, p[:doc.Past], pv, kw, headDim)
					}
					axpyRowsFn(out, p[doc.Past:], vc, kw, headDim)
				}
			}
		}
	})
}

// softmax turns raw scores into weights in place: p_j = exp(p_j*scale - m)
// * (1/sum), the sum taken in order.
func softmax(p []float32, scale float32) {
	m := float32(math.Inf(-1))
	for j := range p {
		p[j] *= scale
		m = max(m, p[j])
	}
	var sum float32
	for j := range p {
		p[j] = exp32(p[j] - m)
		sum += p[j]
	}
	inv := 1 / sum
	for j := range p {
		p[j] *= inv
	}
}

// axpyRowsFn is axpyRowsGo or its assembly twin (dot_amd64.go).
var axpyRowsFn = axpyRowsGo

// axpyRowsGo adds p[j] * v[j*vs : j*vs+width] to out[:width] for each j in
// order: out[e] += p[j]*v[j*vs+e], a rounded product then an add.
func axpyRowsGo(out, p, v []float32, vs, width int) {
	out = out[:width]
	for j, pj := range p {
		row := v[j*vs : j*vs+width]
		for e, ve := range row {
			out[e] += float32(pj * ve)
		}
	}
}
