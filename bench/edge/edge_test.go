package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }

func TestParseLogTally(t *testing.T) {
	log := `127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.100 "GET /tv/index.m3u8 HTTP/1.1" 200 731 cache=MISS upstream=127.0.0.1:8080 upstream_status=200 rt=0.001 urt=0.001
127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.200 "GET /tv/index.m3u8 HTTP/1.1" 200 731 cache=HIT upstream=- upstream_status=- rt=0.000 urt=-
127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.300 "GET /tv/2026/12/06/16/58/45.255-02000.ts HTTP/1.1" 200 1000 cache=MISS upstream=127.0.0.1:8080 upstream_status=200 rt=0.001 urt=0.001
127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.400 "GET /tv/2026/12/06/16/58/45.255-02000.ts HTTP/1.1" 200 1000 cache=HIT upstream=- upstream_status=- rt=0.000 urt=-
127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.500 "GET /tv/index.ll.m3u8?_HLS_msn=5&_HLS_part=1 HTTP/1.1" 200 900 cache=BYPASS upstream=127.0.0.1:8080 upstream_status=200 rt=0.2 urt=0.2
127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1000.600 "GET /tv/mpegts HTTP/1.1" 200 9000 cache=- upstream=127.0.0.1:8080 upstream_status=200 rt=3 urt=3
127.0.0.1 [06/Dec/2026:16:58:45 +0000] 1002.000 "GET /tv/index.m3u8 HTTP/1.1" 200 731 cache=EXPIRED upstream=127.0.0.1:8080 upstream_status=200 rt=0.001 urt=0.001
not a line
`
	lines, bad := ParseLog(log)
	if len(lines) != 7 || bad != 1 {
		t.Fatalf("%d lines, %d bad", len(lines), bad)
	}
	o := Tally(lines, time.UnixMilli(1000_000), time.UnixMilli(1001_000))
	if o.Playlists != 2 || o.Segments != 1 || o.Distinct != 1 || o.Other != 1 {
		t.Errorf("tally %+v", o)
	}
	if o.Cache["HIT"] != 2 || o.Cache["MISS"] != 2 || o.Cache["EXPIRED"] != 0 {
		t.Errorf("cache %v", o.Cache)
	}
}

func TestMarkdown(t *testing.T) {
	cfg := DefaultConfig()
	rep := &Report{Run: report.Begin(), Config: cfg, Input: 4e6, Workers: 1, Cache: "tmpfs"}
	w := 20 * time.Second
	rep.Measures = []Measure{
		{Path: Direct, Viewers: 50, Wall: w, Viewed: Viewed{Polls: 500, Segments: 500, Bytes: 500e6},
			Origin: Origin{NewSegments: 10, Requests: 1000}, SlabcastCPU: 2 * time.Second, ServerBusy: 3 * time.Second, LoadBusy: 4 * time.Second},
		{Path: Edge, Viewers: 50, Wall: w, Viewed: Viewed{Polls: 500, Segments: 500, Bytes: 500e6},
			Origin:      Origin{NewSegments: 10, Requests: 21, Playlists: 10, Segments: 11, Distinct: 11, Cache: map[string]int{"HIT": 980, "MISS": 11, "EXPIRED": 9}},
			SlabcastCPU: time.Second / 2, NginxCPU: time.Second, ServerBusy: 3 * time.Second, LoadBusy: 20 * time.Second},
	}
	rep.End()
	md := benchtest.Markdown(t, rep, "| 50 | direct | 50 | 50 |", "| 50 | edge |", "load generator", "EXPIRED 9, HIT 980, MISS 11",
		"at most 1.00: met", "at most 0.50: met")
	if rows := report.Table(md, "| viewers | path"); len(rows) != 4 {
		t.Errorf("viewers table has %d rows:\n%s", len(rows), md)
	}
}

// TestRunTiny runs the whole harness small: one viewer count, short
// windows, 1 s segments, and checks that both paths were measured, that
// the viewers were served without error and that the edge asked the
// origin for each segment once. It asserts that the harness works, never
// a timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Bin = benchtest.Slabcast(t, cfg.Root)
	cfg.SegmentDuration = 1
	cfg.SegmentCount = 3
	cfg.Bitrate = 2e6
	cfg.Viewers = []int{8}
	cfg.Window = 3 * time.Second
	cfg.Logf = t.Logf
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
	d, e := rep.Of(Direct, 8), rep.Of(Edge, 8)
	if d == nil || e == nil {
		t.Fatalf("measures %+v", rep.Measures)
	}
	for _, m := range []*Measure{d, e} {
		if m.Viewed.Errors != 0 || m.Viewed.Segments == 0 || m.Viewed.Polls == 0 {
			t.Errorf("%v: %+v", m.Path, m.Viewed)
		}
	}
	if e.Origin.Distinct == 0 || e.PerDistinct() != 1 {
		t.Errorf("the edge asked the origin %d times for %d segments", e.Origin.Segments, e.Origin.Distinct)
	}
	if e.Origin.Cache["HIT"] == 0 {
		t.Errorf("no cache hit through the edge: %v", e.Origin.Cache)
	}
	benchtest.Markdown(t, rep, "## The origin behind the edge", "## Goals")
}
