package api

import (
	"context"
	"math"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }

func TestNewDist(t *testing.T) {
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	if got, want := NewDist(hundred), (Dist{N: 100, P50: 50, P90: 90, P99: 99, Max: 100}); got != want {
		t.Errorf("NewDist = %+v, want %+v", got, want)
	}
	if got := NewDist(nil); got != (Dist{}) {
		t.Errorf("NewDist(nil) = %+v", got)
	}
}

func TestVerdict(t *testing.T) {
	f := func(a, b []float64, worse int, want Verdict, costs bool) {
		t.Helper()
		m := Measure{A: a, B: b, Worse: worse}
		if v := m.Verdict(); v != want || m.Costs() != costs {
			t.Errorf("A %v B %v: verdict %v, costs %v; want %v, %v", a, b, v, m.Costs(), want, costs)
		}
	}
	f([]float64{10, 11, 10.5}, []float64{10.4, 10.6, 10.8}, 1, Nothing, false)  // B/A 1.010 (medians), spread 10%
	f([]float64{10, 10.2, 10.1}, []float64{11, 11, 11}, 1, Higher, true)        // +8.9% against 2%
	f([]float64{10, 10.2, 10.1}, []float64{9, 9, 9}, 1, Lower, false)           // lower latency: no cost
	f([]float64{10, 10.2, 10.1}, []float64{9, 9, 9}, -1, Lower, true)           // lower throughput: a cost
	f([]float64{10}, []float64{10}, 1, Undetermined, false)                     // one window: no spread
	f([]float64{1.5, 2.0, 5.3}, []float64{5.4, 5.5, 5.6}, 1, Higher, true)      // within the spread, but wholly above
	f([]float64{1.5, 5.3}, []float64{5.4, 5.5}, 1, Nothing, false)              // too few windows to count apartness
	f([]float64{10, 10, 10}, []float64{10.05, 10.06, 10.07}, 1, Nothing, false) // wholly above, but under the floor
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v, want 2.5", m)
	}
	if s := Spread([]float64{2, 3, 2.5}); math.Abs(s-0.5) > 1e-9 {
		t.Errorf("Spread = %v, want 0.5", s)
	}
}

func TestCheckAnswer(t *testing.T) {
	good := `{"estimated_count":2,"next":null,"prev":null,"streams":[` +
		`{"name":"ch0","stats":{"status":"running","alive":true}},{"name":"ch1","stats":{"status":"waiting"}}]}`
	n, running, err := checkAnswer([]byte(good), 2)
	if err != nil || n != 2 || running != 1 {
		t.Errorf("checkAnswer = %d, %d, %v", n, running, err)
	}
	for _, bad := range []string{
		`{"errors":[{"status":"401"}]}`,
		`{"estimated_count":1,"streams":[{"name":"ch0","stats":{"status":"running"}}]}`,
		`{"estimated_count":2,"streams":[{"name":"ch0","stats":{"status":"running"}},{"name":"ch1"}]}`,
		`not json`,
	} {
		if _, _, err := checkAnswer([]byte(bad), 2); err == nil {
			t.Errorf("checkAnswer(%s) passed", bad)
		}
	}
}

func TestLastSegment(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n2026/12/06/10/00/00.000-02000.ts\n#EXTINF:2.000,\n2026/12/06/10/00/02.000-02000.ts\n"
	if uri, ok := lastSegment([]byte(pl)); !ok || uri != "2026/12/06/10/00/02.000-02000.ts" {
		t.Errorf("lastSegment = %q, %v", uri, ok)
	}
	if _, ok := lastSegment([]byte("#EXTM3U\n")); ok {
		t.Error("lastSegment found a segment in an empty playlist")
	}
}

func TestAPICost(t *testing.T) {
	rep := &Report{Windows: []Window{
		{Kind: Without, CPU: 100 * time.Millisecond, Wall: time.Second},
		{Kind: With, CPU: 120 * time.Millisecond, Wall: time.Second, Polls: 20},
	}}
	per, cores, ok := rep.APICost()
	if !ok || math.Abs(cores-0.02) > 1e-9 || math.Abs(per-1000) > 1e-6 {
		t.Errorf("APICost = %v µs, %v cores, %v; want 1000, 0.02, true", per, cores, ok)
	}
}

func TestDisturbed(t *testing.T) {
	cfg := DefaultConfig()
	clean := Window{Wall: 10 * time.Second, Foreign: 500 * time.Millisecond, Sent: 1000, SendTarget: 1000}
	if why := clean.Disturbed(cfg); why != "" {
		t.Errorf("clean window disturbed: %s", why)
	}
	busy := clean
	busy.Steal = time.Second // 0.15 of the core with Foreign
	short := clean
	short.Sent = 980
	for _, w := range []Window{busy, short} {
		if w.Disturbed(cfg) == "" {
			t.Errorf("window %+v not disturbed", w)
		}
	}
	rep := &Report{Config: cfg}
	for _, w := range []Window{clean, clean, busy, clean} {
		w.Kind = Kind(len(rep.Windows) % 2)
		rep.Windows = append(rep.Windows, w)
	}
	if ws, all := rep.Compared(); !all || len(ws) != 4 {
		t.Errorf("Compared with one clean B: %d windows, all %v; want 4, true", len(ws), all)
	}
	rep.Windows = append(rep.Windows, clean, clean)
	rep.Windows[4].Kind, rep.Windows[5].Kind = Without, With
	if ws, all := rep.Compared(); all || len(ws) != 5 {
		t.Errorf("Compared: %d windows, all %v; want 5, false", len(ws), all)
	}
}

// TestRunTiny runs the whole harness in a tiny configuration (two
// channels of the committed clip, two pollers, two pairs of one-second
// windows) and checks that traffic flowed, nothing was lost, the pollers
// polled only in B and the report is well formed. It asserts no timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	benchtest.TwoCPUs(t)
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("no taskset")
	}
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Binary = benchtest.Slabcast(t, cfg.Root)
	cfg.Clip = "../../testdata/h264_aac.ts"
	cfg.Channels = 2
	cfg.SegmentDuration = time.Second // the clip's GOP
	cfg.Pairs = 2
	cfg.Window = time.Second
	cfg.Pollers = 2
	cfg.PollEvery = 200 * time.Millisecond
	cfg.Viewers, cfg.Fetchers = 2, 2
	cfg.ExtraPairs = 0 // four windows, disturbed or not
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Windows) != 4 {
		t.Fatalf("%d windows, want 4", len(rep.Windows))
	}
	if !rep.ZeroLoss() {
		t.Errorf("loss: sent %d, received %d; windows %+v", rep.TotalSent, rep.TotalReceived, rep.Windows)
	}
	for i, w := range rep.Windows {
		if w.Kind != Kind(i%2) {
			t.Errorf("window %d is %v", i+1, w.Kind)
		}
		if w.Fetches == 0 || w.FetchErrors != 0 || w.FetchBytes == 0 || w.CPU <= 0 {
			t.Errorf("window %d: %d fetches, %d errors, %d bytes, CPU %v", i+1, w.Fetches, w.FetchErrors, w.FetchBytes, w.CPU)
		}
		switch {
		case w.Kind == Without && w.Polls+w.PollErrors != 0:
			t.Errorf("window %d (A): %d polls", i+1, w.Polls+w.PollErrors)
		case w.Kind == With && (w.Polls == 0 || w.PollErrors != 0 || w.MinStreams != cfg.Channels || w.AnswerBytes() <= 0):
			t.Errorf("window %d (B): %d polls, %d errors, %d streams listed, %.0f bytes an answer (%s)",
				i+1, w.Polls, w.PollErrors, w.MinStreams, w.AnswerBytes(), rep.FirstPollError)
		}
	}
	out := benchtest.Markdown(t, rep, "# API polling", "- Machine: ", "## B against A", "## Every window: ingest",
		"## The pollers' answers", "## Goals", "## Caveats")
	rows := report.Table(out, "| measure | unit |")
	if len(rows) < 2+6 {
		t.Fatalf("B/A table has %d lines:\n%s", len(rows), out)
	}
	fig := regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	for _, row := range rows[2:] {
		if len(row) != len(rows[0]) || !fig.MatchString(row[2]) || !fig.MatchString(row[3]) {
			t.Errorf("B/A row %q", row)
		}
	}
	if rows := report.Table(out, "| # | case | start s |"); len(rows) != 2+4 {
		t.Errorf("ingest table has %d lines, want 6", len(rows))
	}
	if n := strings.Count(out, "costs nothing measurable with the pollers"); n != 2 {
		t.Errorf("%d verdict goal lines, want 2", n)
	}
}
