//go:build !js && !wasip1

package gpu

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/prune"
	"github.com/cusprun/cusprun/core/synth"
	"github.com/cusprun/cusprun/core/tensor"
	"github.com/cusprun/cusprun/gpu/internal/compute"
)

// withBinding lowers the device's binding limit for one test.
func withBinding(t *testing.T, d *compute.Device, n uint64) {
	saved := d.MaxBinding
	d.MaxBinding = n
	t.Cleanup(func() { d.MaxBinding = saved })
}

// vocabModel is a one-layer tiny model of the family with a vocabulary of
// v entries (more than model.Logits' chunk of 4096 rows).
func vocabModel(t *testing.T, fam string, v int, dt tensor.DType) *model.Model {
	t.Helper()
	c, err := synth.Config(synth.Options{Family: fam, Shape: "tiny", Layers: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Vocab = v
	dir := filepath.Join(t.TempDir(), "model")
	if err := synth.WriteHF(dir, c, 3, dt, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHeadOnDevice: the lm_head product runs on the device (HeadMatMul)
// over vocabularies of several 4096-row chunks, with a bias (phi), tied
// (qwen2) and untied (llama) output matrices, and with a binding limit so
// low that the output matrix, the final rows and the logits all split.
func TestHeadOnDevice(t *testing.T) {
	d := device(t)
	be := newOn(d)
	for _, tc := range []struct {
		fam     string
		dt      tensor.DType
		binding uint64
	}{
		{"phi", tensor.F16, 0},
		{"qwen2", tensor.BF16, 0},
		{"llama", tensor.F32, 40000},
	} {
		t.Run(tc.fam, func(t *testing.T) {
			if tc.binding > 0 {
				withBinding(t, d, tc.binding)
			}
			m := vocabModel(t, tc.fam, 4096+4096/3, tc.dt)
			ids := tokens(7, m.Config.Vocab, 9)
			want, err := m.AllLogits(model.CPU{}, ids)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.AllLogits(be, ids)
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.Vocab
			worst := 0.0
			for pos := range ids {
				e, at := maxRel(got[pos*V:(pos+1)*V], want[pos*V:(pos+1)*V], 1)
				if e > logitTol {
					t.Errorf("position %d: max rel error %.3g at vocab %d: got %g want %g", pos, e, at, got[pos*V+at], want[pos*V+at])
				}
				worst = math.Max(worst, e)
			}
			t.Logf("vocab %d, max rel logit error %.2e", V, worst)
		})
	}
}

// TestBatchSplitIntoParts: a batch whose activations exceed one binding
// runs as parts of whole documents; logits, statistics and NLL match the
// CPU engine. A document that alone exceeds a binding is a clear error.
func TestBatchSplitIntoParts(t *testing.T) {
	d := device(t)
	be := newOn(d)
	f := family{synth.Options{Family: "qwen2", Shape: "tiny"}, tensor.BF16}
	m := synthModel(t, f)
	// The widest activation of tiny is the FFN's 160 floats: 640 bytes a
	// token, so 8 tokens a part.
	withBinding(t, d, 8*640)
	V := m.Config.Vocab
	docs := [][]int{tokens(5, V, 1), tokens(3, V, 2), tokens(7, V, 3), tokens(2, V, 4), tokens(6, V, 5), tokens(8, V, 6)}
	s, err := be.Start(m.Config, make([]float32, 31*m.Config.Hidden), model.Pack(docs).Docs)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.(*state).parts); n != 4 {
		t.Errorf("%d parts, want 4 ({5,3} {7} {2,6} {8})", n)
	}
	be.Free(s)

	want := collect(t, m, model.CPU{}, docs)
	got := collect(t, m, be, docs)
	for l := range want {
		w, g := want[l], got[l]
		if g.Tokens != w.Tokens {
			t.Errorf("layer %d: %d tokens, want %d", l, g.Tokens, w.Tokens)
		}
		for _, c := range []struct {
			name string
			g, w []float32
		}{
			{"FFNDoc", flat32(g.FFNDoc), flat32(w.FFNDoc)},
			{"AttnDoc", flat32(g.AttnDoc), flat32(w.AttnDoc)},
			{"FFNSum", to32(g.FFNSum), to32(w.FFNSum)},
			{"FFNSq", to32(g.FFNSq), to32(w.FFNSq)},
			{"OSum", to32(g.OSum), to32(w.OSum)},
			{"OSq", to32(g.OSq), to32(w.OSq)},
		} {
			if e, at := maxRel(c.g, c.w, 1e-6); e > statTol {
				t.Errorf("layer %d %s: max rel error %.3g at %d: got %g want %g", l, c.name, e, at, c.g[at], c.w[at])
			}
		}
	}
	ws, wc, err := m.NLL(model.CPU{}, docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	gs, gc, err := m.NLL(be, docs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		if gc[i] != wc[i] || math.Abs(gs[i]-ws[i]) > 1e-4*math.Max(1, math.Abs(ws[i])) {
			t.Errorf("document %d: NLL %g over %d tokens, want %g over %d", i, gs[i], gc[i], ws[i], wc[i])
		}
	}

	_, err = m.LastLogits(be, tokens(9, V, 7))
	if err == nil || !strings.Contains(err.Error(), "binding") {
		t.Fatalf("a 9-token document with room for 8: err = %v, want a binding-size error", err)
	}
	t.Log(err)
}

// freshDevice opens a device of the test's own: a fault may lose it.
func freshDevice(t *testing.T) *compute.Device {
	t.Helper()
	device(t) // skips (or fails) as the shared device does
	d, err := compute.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// bounded runs f and fails the test if it has not returned within limit:
// a failing device must never hang the job.
func bounded(t *testing.T, limit time.Duration, f func() error) (time.Duration, error) {
	t.Helper()
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return time.Since(t0), err
	case <-time.After(limit):
		t.Fatalf("still running after %s: a failing device hangs the job", limit)
		return 0, nil
	}
}

// TestAllocationFailure makes each device allocation of a forward pass
// fail in turn (the first, the second, ... until the pass needs fewer:
// Start, every layer, Final and the head), then one of a scoring run: each
// returns compute.ErrOutOfMemory (no panic, no hang), and the device works again
// afterwards with the same results.
func TestAllocationFailure(t *testing.T) {
	d := freshDevice(t)
	be := newOn(d)
	m := synthModel(t, family{synth.Options{Family: "llama", Shape: "tiny"}, tensor.BF16})
	ids := tokens(6, m.Config.Vocab, 1)
	want, err := m.LastLogits(model.CPU{}, ids)
	if err != nil {
		t.Fatal(err)
	}
	n := 1
	for ; n < 1000; n++ {
		d.Inject(compute.Fault{Alloc: n})
		_, err := bounded(t, 2*time.Minute, func() error { _, err := m.LastLogits(be, ids); return err })
		if err == nil {
			break
		}
		if !errors.Is(err, compute.ErrOutOfMemory) {
			t.Fatalf("allocation %d refused: err = %v, want compute.ErrOutOfMemory", n, err)
		}
		if n == 1 || n%10 == 0 {
			t.Logf("allocation %d: %v", n, err)
		}
	}
	if n < 10 {
		t.Fatalf("a forward pass made only %d allocations: the fault does not fire", n-1)
	}
	t.Logf("every one of the pass's %d allocations failed in turn, cleanly", n-1)
	d.Inject(compute.Fault{Alloc: 30})
	docs := [][]int{tokens(5, m.Config.Vocab, 2), tokens(7, m.Config.Vocab, 3)}
	_, err = bounded(t, 2*time.Minute, func() error {
		_, err := prune.Score(context.Background(), m, be, docs, nil)
		return err
	})
	if !errors.Is(err, compute.ErrOutOfMemory) {
		t.Errorf("scoring: err = %v, want compute.ErrOutOfMemory", err)
	}
	d.Inject(compute.Fault{})
	if d.Lost() != nil {
		t.Fatalf("an allocation failure lost the device: %v", d.Lost())
	}
	got, err := m.LastLogits(be, ids)
	if err != nil {
		t.Fatalf("after the failures: %v", err)
	}
	if e, at := maxRel(got, want, 1); e > logitTol {
		t.Fatalf("after the failures: max rel error %.3g at %d", e, at)
	}
}

// TestDeviceLost loses the device at its second wait: the pass fails with
// compute.ErrDeviceLost, and so does every later call, at once.
func TestDeviceLost(t *testing.T) {
	d := freshDevice(t)
	be := newOn(d)
	m := synthModel(t, family{synth.Options{Family: "qwen2", Shape: "tiny"}, tensor.BF16})
	ids := tokens(6, m.Config.Vocab, 1)
	d.Inject(compute.Fault{Lose: 2})
	_, err := bounded(t, 2*time.Minute, func() error { _, err := m.LastLogits(be, ids); return err })
	if !errors.Is(err, compute.ErrDeviceLost) {
		t.Fatalf("err = %v, want compute.ErrDeviceLost", err)
	}
	t.Log(err)
	took, err := bounded(t, time.Minute, func() error {
		_, err := prune.Score(context.Background(), m, be, [][]int{ids}, nil)
		return err
	})
	if !errors.Is(err, compute.ErrDeviceLost) {
		t.Fatalf("after the loss: err = %v, want compute.ErrDeviceLost", err)
	}
	if took > 5*time.Second {
		t.Errorf("a call on the lost device took %s, want an immediate error", took)
	}
}

// TestDeviceHang: a device that stops answering costs one Timeout, then
// is lost; the job returns compute.ErrDeviceLost instead of waiting forever.
func TestDeviceHang(t *testing.T) {
	d := freshDevice(t)
	d.Timeout = 300 * time.Millisecond
	be := newOn(d)
	m := synthModel(t, family{synth.Options{Family: "llama", Shape: "tiny"}, tensor.BF16})
	d.Inject(compute.Fault{Lose: 1, Hang: true})
	took, err := bounded(t, time.Minute, func() error {
		_, err := m.LastLogits(be, tokens(6, m.Config.Vocab, 1))
		return err
	})
	if !errors.Is(err, compute.ErrDeviceLost) || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("err = %v, want compute.ErrDeviceLost after no answer", err)
	}
	if took > 20*time.Second {
		t.Errorf("took %s with a 300ms timeout", took)
	}
	t.Logf("%v (after %s)", err, took.Round(time.Millisecond))
}
