package drm

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
pkg: github.com/slabcast/slabcast/pipeline
BenchmarkEncryptSegment-2   	     594	   2063289 ns/op	 484.65 MB/s	         0.2579 cores/Gbit/s	         2.063 ns/byte
BenchmarkEncryptSegment-2   	     600	   2000000 ns/op	 500.00 MB/s	         0.2500 cores/Gbit/s	         2.000 ns/byte
BenchmarkEncryptSegment-2   	     610	   2100000 ns/op	 476.19 MB/s	         0.2625 cores/Gbit/s	         2.100 ns/byte
BenchmarkIngest-2           	 1791140	       914.2 ns/op	1439.59 MB/s	       130.6 ns/packet	      34 B/op	       0 allocs/op
    drm_timing_test.go:10: a log line
PASS
`)
	m, err := parseBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].Name != "BenchmarkEncryptSegment" || m[1].Name != "BenchmarkIngest" {
		t.Fatalf("parsed %+v", m)
	}
	if e := m[0]; e.Runs != 3 || e.NsPerOp != 2063289 || e.MBps != 484.65 || e.Metrics["ns/byte"] != 2.063 {
		t.Errorf("medians %+v", e)
	}
	if g := m[1]; g.Metrics["ns/packet"] != 130.6 || g.Metrics["allocs/op"] != 0 {
		t.Errorf("ingest %+v", g)
	}
	if _, err := parseBench([]byte("FAIL\n")); err == nil {
		t.Error("output without a result parsed")
	}
	if got := perGbit(8); got != 1 {
		t.Errorf("8 ns/byte is %v cores per Gbit/s, want 1", got)
	}
}

// TestRunTiny runs the whole harness, one pair of one-second wrk runs a
// case and the Go benchmarks a few iterations, and checks the tables: both
// streams measured without error, a ratio and a goal line per case, the
// encryption figures. It asserts that the harness works, never a timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Bin = benchtest.Slabcast(t, cfg.Root)
	cfg.Duration = time.Second
	cfg.Pairs = 1
	cfg.Connections = 4
	cfg.SegmentDuration = 1
	cfg.SegmentCount = 3
	cfg.Bitrate = 2e6
	cfg.BenchTime = "20x"
	cfg.BenchCount = 1
	if c, _ := proc.CountCPUs(""); c < 2 {
		cfg.ServerCPUs, cfg.LoadCPUs = "", ""
	}
	if err := Tools(cfg); errors.Is(err, ErrMissingTool) {
		benchtest.Tool(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	for _, r := range rep.Results {
		if len(r.Measures) != 2 || r.Measures[0].Stream != Clear || r.Measures[1].Stream != Encrypted {
			t.Fatalf("%v: measures %+v, want clear then encrypted", r.Case, r.Measures)
		}
		for _, m := range r.Measures {
			if m.Load.Requests == 0 || m.Load.Bytes == 0 {
				t.Errorf("%v %s: no request completed: %+v", r.Case, m.Stream, m.Load)
			}
			if m.Load.Errors() != 0 {
				t.Errorf("%v %s: %d errors (%+v)", r.Case, m.Stream, m.Load.Errors(), m.Load)
			}
		}
		if _, _, ok := r.Ratios(); !ok {
			t.Errorf("%v: no ratio", r.Case)
		}
	}
	if rep.KeyRequests == 0 {
		t.Error("the key server was never asked")
	}
	if len(rep.Micro) != 3 {
		t.Fatalf("Go benchmarks %+v, want 3", rep.Micro)
	}
	if v, ok := rep.encryptNsPerByte(); !ok || v <= 0 {
		t.Errorf("no ns/byte from BenchmarkEncryptSegment: %+v", rep.Micro)
	}
	out := benchtest.Markdown(t, rep, "# Content protection", "- Machine: ", "## Delivery", "## Encryption CPU", "## Goals", "## Caveats",
		"cores per Gbit/s of ingest")
	rows := report.Table(out, "| case | stream")
	if len(rows) != 2+4 {
		t.Fatalf("delivery table has %d lines, want 6:\n%s", len(rows), out)
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	for _, row := range rows[2:] {
		if len(row) != len(rows[0]) || !num.MatchString(row[3]) || row[3] == "0" || !num.MatchString(row[4]) {
			t.Errorf("row %q: requests/s or Gbit/s not a number", row)
		}
	}
	if n := len(report.Table(out, "| Go benchmark")); n != 2+3 {
		t.Errorf("Go benchmark table has %d lines, want 5:\n%s", n, out)
	}
	if !strings.Contains(out, "encrypted delivery within 5 %") || !strings.Contains(out, "playlists: no goal") {
		t.Errorf("goal lines missing:\n%s", out)
	}
}
