//go:build !wasip1

package gpu

import (
	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/gpu/internal/compute"
)

// reportInputs hands one part's o_proj and down_proj inputs to the
// statistics' callbacks (least-squares compensation needs the inputs
// themselves): the pass so far is submitted and z and a are read back
// before the next part overwrites them. It returns a new pass for the rest
// of the layer.
func (b *Backend) reportInputs(p *compute.Pass, st *model.Stats, z, a *compute.Tensor, n, nq, F int) (*compute.Pass, error) {
	if err := p.Submit(); err != nil {
		return nil, err
	}
	if st.OInputs != nil {
		v, err := b.d.ReadF32(z, n*nq)
		if err != nil {
			return nil, err
		}
		st.OInputs(v, n)
	}
	if st.DownInputs != nil {
		v, err := b.d.ReadF32(a, n*F)
		if err != nil {
			return nil, err
		}
		st.DownInputs(v, n)
	}
	return b.d.NewPass()
}
