package packaging

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

func TestMain(m *testing.M) { testnet.Main(m) }

func paths(ms []Media) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Path)
	}
	return out
}

func TestListHLS(t *testing.T) {
	pl := `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:41
#EXT-X-MAP:URI="2026/12/06/13/00/00-02000.init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-06T13:00:00.000Z
#EXTINF:2.000,
2026/12/06/13/00/00-02000.m4s
#EXT-X-PART:DURATION=0.5,URI="p/42.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="p/42.1.m4s"
#EXTINF:2.000,
2026/12/06/13/00/02-02000.m4s
#EXT-X-PART:DURATION=0.5,URI="p/43.0.m4s"
`
	l, err := listHLS("/ch/index.fmp4.m3u8", []byte(pl), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Media{{41, "/ch/2026/12/06/13/00/00-02000.m4s", false}, {42, "/ch/p/42.0.m4s", true}, {42, "/ch/p/42.1.m4s", true},
		{42, "/ch/2026/12/06/13/00/02-02000.m4s", false}}
	if !slices.Equal(l.Media, want) {
		t.Errorf("media %+v, want %+v", l.Media, want)
	}
	if !slices.Equal(l.Inits, []string{"/ch/2026/12/06/13/00/00-02000.init.mp4"}) {
		t.Errorf("inits %q", l.Inits)
	}
	if got := l.MSNs(); !slices.Equal(got, []uint64{41, 42}) {
		t.Errorf("MSNs %v", got)
	}
	if _, err := listHLS("/ch/index.m3u8", []byte("#EXTM3U\n"), nil); err == nil {
		t.Error("a playlist without segments listed")
	}
}

func TestListMPD(t *testing.T) {
	// A SegmentTimeline with a repeat, templates on the adaptation set and
	// on a representation, a BaseURL.
	mpd := `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic">
 <Period id="7" start="PT0S">
  <BaseURL>dash/</BaseURL>
  <AdaptationSet contentType="video">
   <SegmentTemplate timescale="90000" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/7.init.mp4" startNumber="100">
    <SegmentTimeline><S t="900000" d="180000" r="1"/><S d="179000"/></SegmentTimeline>
   </SegmentTemplate>
   <Representation id="256" bandwidth="4000000"/>
  </AdaptationSet>
  <AdaptationSet contentType="audio">
   <Representation id="257" bandwidth="128000">
    <SegmentTemplate media="$RepresentationID$/$Number%05d$-$Time$.m4s" initialization="$RepresentationID$/7.init.mp4" startNumber="100">
     <SegmentTimeline><S t="10" d="5" r="2"/></SegmentTimeline>
    </SegmentTemplate>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>`
	l, err := listMPD("/ch/index.mpd", []byte(mpd), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/ch/dash/256/100.m4s", "/ch/dash/256/101.m4s", "/ch/dash/256/102.m4s",
		"/ch/dash/257/00100-10.m4s", "/ch/dash/257/00101-15.m4s", "/ch/dash/257/00102-20.m4s"}
	if got := paths(l.Media); !slices.Equal(got, want) {
		t.Errorf("media %q, want %q", got, want)
	}
	if !slices.Equal(l.Inits, []string{"/ch/dash/256/7.init.mp4", "/ch/dash/257/7.init.mp4"}) {
		t.Errorf("inits %q", l.Inits)
	}
	if got := l.MSNs(); !slices.Equal(got, []uint64{100, 101, 102}) {
		t.Errorf("MSNs %v", got)
	}

	// Without a timeline: the TS playlist's MSNs.
	mpd = `<MPD><Period id="1"><AdaptationSet><SegmentTemplate media="dash/$RepresentationID$/$Number$.m4s" initialization="dash/$RepresentationID$/1.init.mp4" duration="2"/>` +
		`<Representation id="1"/></AdaptationSet></Period></MPD>`
	l, err = listMPD("/ch/index.mpd", []byte(mpd), []uint64{5, 6})
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(l.Media); !slices.Equal(got, []string{"/ch/dash/1/5.m4s", "/ch/dash/1/6.m4s"}) {
		t.Errorf("media without a timeline %q", got)
	}
	if _, err := listMPD("/ch/index.mpd", []byte(`<MPD><Period><AdaptationSet><Representation id="1"/></AdaptationSet></Period></MPD>`), nil); err == nil {
		t.Error("an MPD without a template listed")
	}
}

func TestParseCase(t *testing.T) {
	for _, s := range []string{"fmp4-segments", "dash-manifest", "ts-segments", "llhls-manifest"} {
		c, err := ParseCase(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(c.String(), " ", "-"); got != s {
			t.Errorf("%s reads as %s", s, got)
		}
	}
	for _, s := range []string{"fmp4", "mp4-segments", "dash-playlist"} {
		if _, err := ParseCase(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// TestRunTiny runs the whole harness small: one pair of one-second wrk
// runs for fMP4 segments and the DASH manifest, two channels and one round
// of one-second windows (A and B for each output in use alone, then for
// all), and checks the tables: runs measured without error, a ratio and a
// goal line per served case, DASH either measured or reported absent, TS
// packaged in B windows and not in A windows, memory read at each moment. It asserts that the harness works, never a timing.
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
	cfg.ChannelSegmentCount = 3
	cfg.Bitrate = 2e6
	cfg.Cases = []Case{{Output: OutFMP4}, {Output: OutDASH, Manifest: true}}
	cfg.Channels = 2
	cfg.Window = time.Second
	cfg.WindowPairs = 1
	cfg.Fill = 2 * time.Second
	cfg.Settle = -1
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
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	fm := rep.Results[0]
	if fm.Absent != "" {
		t.Fatalf("fMP4 reported absent: %s", fm.Absent)
	}
	if len(fm.Measures) != 2 || fm.Measures[0].Server != Slabcast || fm.Measures[1].Server != Nginx {
		t.Fatalf("fmp4 measures %+v, want slabcast then nginx", fm.Measures)
	}
	for _, r := range rep.Results {
		if r.Absent != "" {
			if r.Case.Output.Name != "dash" || len(r.Measures) != 0 {
				t.Errorf("%v absent (%s) with %d measures", r.Case, r.Absent, len(r.Measures))
			}
			continue
		}
		for _, m := range r.Measures {
			if m.Load.Requests == 0 || m.Load.Bytes == 0 || m.Load.Errors() != 0 {
				t.Errorf("%v %v: %+v", r.Case, m.Server, m.Load)
			}
		}
		if _, ok := r.Ratio(); !ok {
			t.Errorf("%v: no ratio", r.Case)
		}
	}
	if !slices.Contains(rep.InUse, "fmp4") {
		t.Errorf("outputs in use %v lack fmp4", rep.InUse)
	}
	// A round: A and B for each output alone (when more than one is in
	// use), then A and B for all of them.
	sets := len(rep.InUse) + 1
	if len(rep.InUse) == 1 {
		sets = 1
	}
	if len(rep.Windows) != 2*sets {
		t.Fatalf("%d windows for outputs %v, want %d", len(rep.Windows), rep.InUse, 2*sets)
	}
	ts := 0
	for i, w := range rep.Windows {
		f := w.Fetched
		ts += f.TSRequests // a one-second window may see no new segment
		switch {
		case i%2 == 0 && (w.Kind != TSOnly || f.PackRequests != 0 || f.Errors != 0):
			t.Errorf("window %d: %v %+v, want A fetching TS only", i+1, w.Kind, f)
		case i%2 == 1 && (w.Kind != All || f.PackRequests == 0 || f.Packaged == 0 || f.Errors != 0):
			t.Errorf("window %d: %v %+v, want B fetching packaged forms", i+1, w.Kind, f)
		}
	}
	if ts == 0 {
		t.Error("no TS segment fetched in any window")
	}
	if got := rep.Windows[len(rep.Windows)-1].Set; got != rep.AllSet() {
		t.Errorf("last B window's outputs %q, want %q", got, rep.AllSet())
	}
	if _, _, ok := rep.PackagingCost(rep.AllSet()); !ok {
		left := false
		for _, w := range rep.Windows {
			left = left || rep.Disturbed(w) != ""
		}
		if !left { // one-second windows may be left out; else a cost is due
			t.Error("no packaging cost")
		}
	}
	for _, what := range []string{MemNoStream, MemTS, MemAll} {
		if m := rep.MemoryOf(what); m == nil || m.Mem.VmRSS == 0 || m.Pool == 0 || m.HeapInuse == 0 {
			t.Errorf("memory %s: %+v", what, m)
		}
	}
	out := benchtest.Markdown(t, rep, "# Packaging", "- Machine: ", "## 1. Delivery", "## 2. Packaging CPU",
		"## 3. Memory per channel", "## Goals", "## Caveats", "CPU s per Gbit of TS packaged", "fmp4 segments: at least 1.0×")
	rows := report.Table(out, "| case | server")
	if len(rows) < 2+2+1 {
		t.Fatalf("delivery table has %d lines:\n%s", len(rows), out)
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	for _, row := range rows[2:] {
		if row[1] == "–" {
			continue
		}
		if len(row) != len(rows[0]) || !num.MatchString(row[3]) || row[3] == "0" {
			t.Errorf("row %q: requests/s not a number", row)
		}
		if !slices.Contains([]string{"server", "wrk", "both", "neither"}, row[14]) {
			t.Errorf("row %q: bound %q", row, row[14])
		}
	}
	if n := len(report.Table(out, "| # | case")); n != 2+len(rep.Windows) {
		t.Errorf("windows table has %d lines, want %d:\n%s", n, 2+len(rep.Windows), out)
	}
	if n := len(report.Table(out, "| B outputs")); n != 2+sets {
		t.Errorf("cost table has %d lines, want %d:\n%s", n, 2+sets, out)
	}
	if n := len(report.Table(out, "| moment")); n != 2+3 {
		t.Errorf("memory table has %d lines, want 5:\n%s", n, out)
	}
	if testing.Verbose() {
		t.Log(out)
	}
}
