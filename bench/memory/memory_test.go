package memory

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }

func TestWindowAndPool(t *testing.T) {
	cfg := DefaultConfig()
	if got := cfg.Window(); got != 7*time.Second {
		t.Errorf("window of 1 s × (2×3+1) = %v", got)
	}
	if p := poolFor(10, 4, 7*time.Second); p%(1<<20) != 0 || p < 32<<20+10*4e6/8*7 {
		t.Errorf("poolFor = %d", p)
	}
	r := Result{Case: Case{Mbps: 4, N: 2}, Mbps: 4, Pool: 100 << 20, PoolFree: 90 << 20, Packets: 1000, Mallocs: 30, IdleMallocs: 20}
	if r.HeldPerChannel() != 5<<20 || r.MallocsPerPacket() != 0.01 || r.Expected(time.Second) != 500000 {
		t.Errorf("held %v, mallocs/packet %v, expected %v", r.HeldPerChannel(), r.MallocsPerPacket(), r.Expected(time.Second))
	}
}

// TestRunTiny runs the harness on two 1 Mbit/s channels with a short window
// and checks the report is well formed and the figures add up. It asserts
// no timing and no memory size beyond what must hold.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	benchtest.TwoCPUs(t)
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Binary = benchtest.Slabcast(t, cfg.Root)
	cfg.FallbackClip = "../../testdata/h264_aac.ts"
	cfg.Cases = []Case{{Mbps: 1, N: 2}}
	cfg.SegmentDuration = 500 * time.Millisecond // cut at the next keyframe: the window fills in seconds
	cfg.Idle = time.Second
	cfg.AllocTests = false
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results", len(rep.Results))
	}
	r := rep.Results[0]
	if r.Mem.VmRSS < r.Pool || rep.Base.Mem.VmRSS < rep.Base.Pool {
		t.Errorf("VmRSS %d below the MAP_POPULATE pool %d", r.Mem.VmRSS, r.Pool)
	}
	if r.Mem.RssAnon == 0 || r.Mem.VmRSS < r.Mem.RssAnon {
		t.Errorf("memory status %+v", r.Mem)
	}
	if r.Held() <= 0 || r.Held() > r.Pool || r.Segments == 0 || r.Datagrams == 0 || r.Packets < 7*r.Datagrams {
		t.Errorf("no work: held %d of %d, %d segments, %d datagrams, %d packets", r.Held(), r.Pool, r.Segments, r.Datagrams, r.Packets)
	}
	if rep.Base.Held() != 0 {
		t.Errorf("with no stream the pool has %d bytes held", rep.Base.Held())
	}

	out := benchtest.Markdown(t, rep, "# Memory", "- Machine: ", "## Goals", "Resident memory per channel follows bitrate × window",
		"Allocations per packet: 0", "not run")
	rows := report.Table(out, "| R, Mbit/s | N | pool")
	if len(rows) != 2+2 {
		t.Fatalf("memory table has %d lines, want 4:\n%s", len(rows), out)
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)? MiB$`)
	for _, r := range rows[2:] {
		if len(r) != len(rows[0]) {
			t.Errorf("row %q has %d cells, header %d", r, len(r), len(rows[0]))
		}
		if !num.MatchString(r[3]) || r[3] == "0.0 MiB" {
			t.Errorf("row %q: VmRSS %q", r, r[3])
		}
	}
}
