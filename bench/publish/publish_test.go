package publish

import (
	"context"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }

func TestPoint(t *testing.T) {
	p := Point{N: 4, CPU: 200 * time.Millisecond, Window: 10 * time.Second, BytesIn: 5e6}
	if p.PerStream() != 0.5 || p.Offered() != 4 {
		t.Errorf("per stream %v%%, offered %v Mbit/s", p.PerStream(), p.Offered())
	}
}

// TestRunTiny runs the harness on two publishers for a short window and
// checks the report is well formed and every headend took the streams in.
// It asserts no timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	benchtest.TwoCPUs(t)
	benchtest.Tool(t, daemon.Tools(true, false, "ffmpeg"))
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Binary = benchtest.Slabcast(t, cfg.Root)
	cfg.FallbackClip = "../../testdata/h264_aac.ts"
	cfg.Mbps = 1
	cfg.Ns = []int{2}
	cfg.Window = 5 * time.Second // two segments of ffmpeg's, at least one begun in it
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 3 {
		t.Fatalf("%d points, want 3", len(rep.Points))
	}
	for _, p := range rep.Points {
		if p.Up != 2 || p.CPU <= 0 && p.System != FFmpegRTMP || p.BytesIn <= 0 {
			t.Errorf("%s: %d of 2 streams up, CPU %v, %v bytes in", p.System, p.Up, p.CPU, p.BytesIn)
		}
	}
	out := benchtest.Markdown(t, rep, "# Published streams", "- Machine: ", "## Every point", "ffmpeg ÷ slabcast")
	rows := report.Table(out, "| N | slabcast, RTMP")
	if len(rows) != 3 {
		t.Fatalf("summary table has %d lines, want 3:\n%s", len(rows), out)
	}
	if len(rows[2]) != len(rows[0]) {
		t.Errorf("row %q has %d cells, header %d", rows[2], len(rows[2]), len(rows[0]))
	}
}
