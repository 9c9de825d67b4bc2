package job

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cusprun/cusprun/core/model"
	"github.com/cusprun/cusprun/core/source"
)

// BenchmarkShardedScoring measures what splitting the scoring over n
// engines buys when each engine has one core, as the page's WebAssembly
// workers do: with GOMAXPROCS=1 it scores the n parts one after another
// and reports the slowest part's time and the speedup n cores would give
// (one engine's time over the slowest part's), each the best of b.N
// rounds. Costs that every part pays whatever its share (reading every
// layer, the weight-only statistics) show as a speedup below n. It needs
// ../shared's tiny-multi (CUSPRUN_SHARED, as ./build.sh sets it).
//
//	CUSPRUN_SHARED=../shared go test ./core/job -run '^$' -bench ShardedScoring -benchtime 3x
func BenchmarkShardedScoring(b *testing.B) {
	dir := filepath.Join(os.Getenv("CUSPRUN_SHARED"), "models", "tiny-multi")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); os.Getenv("CUSPRUN_SHARED") == "" || err != nil {
		b.Skip("no tiny-multi: set CUSPRUN_SHARED to ../shared")
	}
	folder, err := source.OpenPath(dir)
	if err != nil {
		b.Fatal(err)
	}
	m, tok, err := Open(folder)
	if err != nil {
		b.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	o := Options{Language: "de", Ratio: 0.25}
	var whole time.Duration
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("parts=%d", n), func(b *testing.B) {
			best := time.Duration(1<<63 - 1)
			for it := 0; it < b.N; it++ {
				var slowest time.Duration
				for i := 0; i < n; i++ {
					t0 := time.Now()
					if _, _, err := ScoreShard(context.Background(), m, tok, model.CPU{}, o, i, n, nil); err != nil {
						b.Fatal(err)
					}
					slowest = max(slowest, time.Since(t0))
				}
				best = min(best, slowest)
			}
			if n == 1 {
				whole = best
			}
			b.ReportMetric(float64(best.Microseconds())/1000, "slowest-part-ms")
			if whole > 0 {
				b.ReportMetric(float64(whole)/float64(best), "speedup")
			}
		})
	}
}
