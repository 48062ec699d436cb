package latency

import (
	"context"
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

const clipPath = "../../testdata/h264_aac.ts"

func TestNewDist(t *testing.T) {
	f := func(in []time.Duration, want Dist) {
		t.Helper()
		if got := NewDist(append([]time.Duration(nil), in...)); got != want {
			t.Errorf("NewDist(%v) = %+v, want %+v", in, got, want)
		}
	}
	f(nil, Dist{})
	f([]time.Duration{7}, Dist{N: 1, P50: 7, P90: 7, P99: 7, Max: 7})
	f([]time.Duration{4, 1, 3, 2}, Dist{N: 4, P50: 2, P90: 4, P99: 4, Max: 4})
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	f(hundred, Dist{N: 100, P50: 50, P90: 90, P99: 99, Max: 100})
}

func TestMatchMarkers(t *testing.T) {
	markers := []sent{{1, 100}, {2, 200}, {3, 300}, {4, 400}, {5, 500}, {5, 600}, {6, 50}}
	log := []seen{
		{9, 150},  // not a marker
		{1, 130},  // 30
		{2, 260},  // 60
		{2, 900},  // a second copy: the first read counts
		{5, 700},  // sent twice: dropped
		{6, 1000}, // sent before the window
	}
	lat, missing := matchMarkers(markers, log, window{100, 450})
	if len(lat) != 2 || lat[0] != 30 || lat[1] != 60 {
		t.Errorf("latencies %v, want [30 60]", lat)
	}
	if missing != 2 { // 3 and 4
		t.Errorf("missing %d, want 2", missing)
	}
}

func TestAttribute(t *testing.T) {
	gop := uint64(45000) // 0.5 s at 90 kHz
	kfs := []keyframe{{1000, 0}, {2000, gop}, {3000, 2 * gop}, {4000, 3 * gop}}
	half := 500 * time.Millisecond
	seen := []appearance{
		{"a", half, 2010},    // keyframe at 2000: 10, consistent
		{"b", 0, 3020},       // keyframe at 3000: 20, EXTINF wrong
		{"c", half, 3500},    // 3000 again: ambiguous
		{"d", half, 4005},    // outside the window
		{"e", half, 500},     // before any keyframe
		{"f", half, 1000000}, // last keyframe 4000, outside
	}
	lat, consistent, ambiguous := attribute(kfs, seen, window{1500, 3500})
	if len(lat) != 2 || lat[0] != 10 || lat[1] != 20 {
		t.Errorf("latencies %v, want [10 20]", lat)
	}
	if consistent != 1 || ambiguous != 1 {
		t.Errorf("consistent %d, ambiguous %d; want 1, 1", consistent, ambiguous)
	}
}

func TestLastSegment(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T09:00:00.000Z\n#EXTINF:0.500,\n2026/11/26/09/00/00.000-00500.ts\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T09:00:00.500Z\n#EXTINF:0.480,\n2026/11/26/09/00/00.500-00480.ts\n"
	name, d, ok := lastSegment([]byte(pl))
	if !ok || string(name) != "2026/11/26/09/00/00.500-00480.ts" || d != 480*time.Millisecond {
		t.Errorf("lastSegment = %q, %v, %v", name, d, ok)
	}
	if _, _, ok := lastSegment([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n")); ok {
		t.Error("lastSegment found a segment in an empty playlist")
	}
}

// TestPlan checks what the sender knows about the committed clip: markers
// in almost every datagram, a keyframe each second, due times that rise
// within the loop.
func TestPlan(t *testing.T) {
	pl, err := newPlan(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	n := pl.clip.Datagrams()
	markers, kfs := 0, 0
	for i := range n {
		if pl.marker[i] >= 0 {
			markers++
		}
		if pl.keyframe[i] {
			kfs++
		}
		if i > 0 && pl.due[i] < pl.due[i-1] {
			t.Fatalf("datagram %d due at %v, before datagram %d at %v", i, pl.due[i], i-1, pl.due[i-1])
		}
	}
	if pl.due[n-1] >= pl.loop || pl.due[0] != 0 {
		t.Errorf("due times from %v to %v in a loop of %v", pl.due[0], pl.due[n-1], pl.loop)
	}
	if markers < n*9/10 {
		t.Errorf("%d of %d datagrams have a marker", markers, n)
	}
	// 10 keyframes a pass (GOP 25 at 25 fps), Passes passes in the buffer.
	if want := 10 * pl.clip.Passes(); kfs != want {
		t.Errorf("%d keyframe datagrams, want %d", kfs, want)
	}
}

// TestRunTiny runs the whole harness on the committed clip, a second and
// a half of sending against slabcast and half a second against the relay,
// and checks that every measurement produced samples and the report is
// well formed. It asserts no timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	benchtest.TwoCPUs(t)
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("no taskset")
	}
	cfg := DefaultConfig()
	cfg.ModuleRoot = "../.."
	cfg.Binary = benchtest.Slabcast(t, cfg.ModuleRoot)
	cfg.Clips = []Clip{{Name: "committed clip", Path: clipPath}}
	cfg.SegmentDuration = time.Second // the clip's GOP
	cfg.Warmup = 300 * time.Millisecond
	cfg.Window = 1500 * time.Millisecond
	cfg.RelayWindow = 500 * time.Millisecond
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results", len(rep.Results))
	}
	r := rep.Results[0]
	for name, d := range map[string]Dist{"relay": r.Relay, "/mpegts": r.MPEGTS, "playlist": r.Playlist, "poll period": r.PollPeriod} {
		if d.N == 0 || d.P50 <= 0 || d.P50 > d.P90 || d.P90 > d.P99 || d.P99 > d.Max {
			t.Errorf("%s: %+v", name, d)
		}
	}
	// Everything sent in the window arrives, and each segment maps to its
	// own keyframe with an EXTINF that agrees.
	if r.MissingMPEGTS != 0 || r.MissingRelay != 0 {
		t.Errorf("markers lost: %d from slabcast, %d from the relay", r.MissingMPEGTS, r.MissingRelay)
	}
	if r.Ambiguous != 0 || r.Consistent != r.Playlist.N {
		t.Errorf("attribution: %d ambiguous, %d of %d consistent", r.Ambiguous, r.Consistent, r.Playlist.N)
	}
	if r.Datagrams == 0 || r.Bitrate <= 0 {
		t.Errorf("datagrams %d, bitrate %v", r.Datagrams, r.Bitrate)
	}

	out := benchtest.Markdown(t, rep, "# Latency", "- Machine: ", "## (b) Datagram to /mpegts", "## (a) Keyframe datagram to playlist", "## Goals")
	checkTable(t, out, "| clip | Mbit/s | server |", 2)
	checkTable(t, out, "| clip | Mbit/s | segments |", 1)
	if n := strings.Count(out, " under 5ms: "); n != 2 {
		t.Errorf("%d goal lines, want 2", n)
	}
}

// checkTable finds the table whose header starts with head and checks that
// it has rows data rows, each with the header's cell count and numbers in
// its p50 column.
func checkTable(t *testing.T, md, head string, rows int) {
	t.Helper()
	tab := report.Table(md, head)
	if len(tab) != 2+rows {
		t.Fatalf("table %q has %d lines, want %d:\n%s", head, len(tab), 2+rows, md)
	}
	p50 := -1
	for i, c := range tab[0] {
		if c == "p50 ms" {
			p50 = i
		}
	}
	num := regexp.MustCompile(`^[0-9]+\.[0-9]{3}$`)
	for _, row := range tab[2:] {
		if len(row) != len(tab[0]) {
			t.Errorf("row %q has %d cells, header %d", row, len(row), len(tab[0]))
			continue
		}
		if p50 < 0 || !num.MatchString(row[p50]) {
			t.Errorf("row %q: p50 is not a figure", row)
		}
	}
}
