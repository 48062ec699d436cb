package delivery

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

func TestParseWrk(t *testing.T) {
	out := []byte("Running 1s test @ http://x\n  1 threads and 2 connections\n" +
		"BENCH requests=120 bytes=125829120 duration_us=1000000 connect=0 read=1 write=0 status=2 timeout=0 p50_us=800 p90_us=1500 p99_us=2500 max_us=9000\n")
	l, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if l.Requests != 120 || l.Errors() != 3 || l.P99 != 2500*time.Microsecond || l.RPS() != 120 {
		t.Errorf("parsed %+v", l)
	}
	if g := l.Gbps(); g < 1.006 || g > 1.007 {
		t.Errorf("Gbps %v, want 1.0066", g)
	}
	if _, err := parseWrk([]byte("BENCH requests=1 bytes=2\n")); err == nil {
		t.Error("a summary lacking fields parsed")
	}
	if _, err := parseWrk([]byte("wrk: connection refused\n")); err == nil {
		t.Error("output without a summary parsed")
	}
}

// TestRunTiny runs the whole harness for one second a case against both
// servers and checks the table: figures for both, no error, a goal line
// per case. It asserts that the harness works, never a timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Bin = benchtest.Slabcast(t, cfg.Root)
	cfg.Duration = time.Second
	cfg.Connections = 4
	cfg.SegmentCount = 3
	cfg.Bitrate = 2e6
	cfg.Cases = []Case{Segments, Mixed}
	if c, _ := proc.CountCPUs(""); c < 2 {
		cfg.ServerCPUs, cfg.LoadCPUs = "", ""
	}
	if err := Tools(cfg); errors.Is(err, ErrMissingTool) {
		benchtest.Tool(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	for _, r := range rep.Results {
		if len(r.Measures) != 2 {
			t.Fatalf("%v: %d measures, want 2", r.Case, len(r.Measures))
		}
		for _, m := range r.Measures {
			if m.Load.Requests == 0 || m.Load.Bytes == 0 {
				t.Errorf("%v %v: no request completed: %+v", r.Case, m.Server, m.Load)
			}
			if m.Load.Errors() != 0 {
				t.Errorf("%v %v: %d errors (%+v)", r.Case, m.Server, m.Load.Errors(), m.Load)
			}
		}
		if _, _, ok := r.Ratios(); !ok {
			t.Errorf("%v: no ratio", r.Case)
		}
		n := 0
		for _, p := range r.Paths {
			if strings.HasSuffix(p, "index.m3u8") {
				n++
			}
		}
		if want := map[Case]bool{Segments: false, Mixed: true}[r.Case]; (n > 0) != want || r.Segs < cfg.SegmentCount {
			t.Errorf("%v: %d playlist URLs among %d, %d segments", r.Case, n, len(r.Paths), r.Segs)
		}
	}
	out := benchtest.Markdown(t, rep, "# HLS delivery", "- Machine: ", "## Goals", "## Caveats")
	rows := report.Table(out, "| case | server")
	if len(rows) != 2+4 {
		t.Fatalf("table has %d lines, want 6:\n%s", len(rows), out)
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	for _, row := range rows[2:] {
		if len(row) != len(rows[0]) {
			t.Errorf("row %q has %d cells, header %d", row, len(row), len(rows[0]))
			continue
		}
		if !num.MatchString(row[2]) || row[2] == "0" || !num.MatchString(row[3]) {
			t.Errorf("row %q: requests/s or Gbit/s not a number", row)
		}
		if row[1] == "slabcast" && !num.MatchString(row[4]) {
			t.Errorf("row %q: no ratio", row)
		}
	}
	if n := strings.Count(out, "× nginx — requests/s"); n != 2 {
		t.Errorf("%d goal lines, want 2", n)
	}
}
