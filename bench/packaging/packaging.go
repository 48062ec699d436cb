// Package packaging is the packaging benchmark of slabcast's suite (the
// issue "fMP4, DASH, LL-HLS"): what serving a stream's segments as fMP4
// HLS, MPEG-DASH and Low-Latency HLS costs, next to its TS.
//
// It has three parts, each on the real binary (bench/internal/daemon)
// taking multicast feeds (`slabcast feed --loop` of an ffmpeg clip):
//
//  1. Delivery. One stream; per case (an output's media segments, or its
//     manifest), a snapshot of the URLs its manifest lists is fetched from
//     slabcast and written with the same URL layout into a tmpfs directory
//     that nginx serves with sendfile (bench/delivery's config), checked
//     byte for byte, and wrk (bench/delivery's script) loads slabcast and
//     nginx in alternating order over several pairs (A B, B A, …), a
//     fresh snapshot each pair. slabcast packages a segment once, on its
//     first request, and keeps the result with the segment, so this is
//     delivery speed from memory against sendfile. Goal: at least nginx's
//     requests/s. Each run says which core was full (wrk's or the
//     server's): a ratio of two runs bounded by wrk says nothing about the
//     servers.
//  2. Packaging CPU. N channels; a fetcher in the benchmark's process asks
//     for every new segment of every channel once, in windows that
//     alternate: A polls the TS playlist and fetches the TS only, B also
//     polls every packaged output's manifest and fetches every packaged
//     form once (fMP4: media and init; DASH: each track's media and init;
//     LL-HLS: the segment and its parts), so B's extra daemon CPU over
//     A's is the cost of packaging (and of the packaged outputs'
//     manifests, and of serving each form once), per Gbit of TS packaged.
//     A does not poll the packaged manifests: the MPD's rendering packages
//     what it lists. The A-vs-A spread says how far the same thing moves
//     from window to window.
//  3. Memory per channel. On the same daemon: resident memory, the slab
//     pool's use and the Go heap (/metrics) after a window of TS only,
//     and again after a window with every output in use, against a
//     daemon with no stream.
//
// Outputs are table-driven (Outputs): an output whose manifest answers 404
// in the build measured is reported as absent, its rows kept.
//
// Run sends multicast (the feeders), so it must run in a private network
// namespace whose lo carries 224.0.0.0/4 (internal/testnet); it refuses
// otherwise. Library code without a main: `go test ./bench/packaging`
// runs it tiny and cmd/slabbench full size. One Run at a time.
package packaging

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/delivery"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// Goal is the target: packaged segments served at no less than
// nginx's requests/s for the same bytes from tmpfs.
const Goal = 1.0

// Case is a request mix of part 1: one output's media segments, or its
// manifest.
type Case struct {
	Output   Output
	Manifest bool
}

// String names the case for tables: "fmp4 segments", "dash manifest".
func (c Case) String() string {
	if c.Manifest {
		return c.Output.Name + " manifest"
	}
	return c.Output.Name + " segments"
}

// ParseCase reads a case: OUTPUT-segments or OUTPUT-manifest, OUTPUT one
// of ts, fmp4, dash, llhls.
func ParseCase(s string) (Case, error) {
	name, kind, _ := strings.Cut(s, "-")
	o, ok := OutputByName(name)
	if !ok || (kind != "segments" && kind != "manifest") {
		return Case{}, fmt.Errorf("packaging: unknown case %q (OUTPUT-segments or OUTPUT-manifest, OUTPUT one of ts, fmp4, dash, llhls)", s)
	}
	return Case{Output: o, Manifest: kind == "manifest"}, nil
}

// DefaultCases are part 1's cases: the packaged outputs' media segments,
// then their manifests.
func DefaultCases() []Case {
	return []Case{{Output: OutFMP4}, {Output: OutDASH}, {Output: OutFMP4, Manifest: true}, {Output: OutDASH, Manifest: true}}
}

// Server is a server under test.
type Server = delivery.Server

// The servers.
const (
	Slabcast = delivery.Slabcast
	Nginx    = delivery.Nginx
)

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root    string  // module root: slabcast is built from it unless Bin is set
	Bin     string  // a prebuilt slabcast binary
	Bitrate float64 // bit/s of the clip every stream takes
	// SegmentDuration (s) is every stream's; SegmentCount part 1's stream's
	// segment_count, ChannelSegmentCount the channels' of parts 2 and 3.
	SegmentDuration, SegmentCount, ChannelSegmentCount int
	// Part 1: Pairs of wrk runs of Duration per case, slabcast and nginx
	// alternated, wrk -c Connections -t Threads.
	Duration             time.Duration
	Pairs                int
	Connections, Threads int
	Cases                []Case
	// ServerCPUs is the taskset list of slabcast and nginx, LoadCPUs that
	// of wrk, the feeders and (parts 2, 3) the benchmark's own threads;
	// empty: unpinned. Workers is nginx's worker_processes (0: the cores
	// of ServerCPUs).
	ServerCPUs, LoadCPUs string
	Workers              int
	// Parts 2 and 3: Channels streams; WindowPairs A and B windows of
	// Window each, alternated. Skip them with Channels 0.
	Channels    int
	Window      time.Duration
	WindowPairs int
	// PerOutput adds, to each round of windows, an A and B pair for each
	// packaged output alone, when more than one is in use: each output's
	// own cost.
	PerOutput bool
	// Fill is how long each mode runs before its memory is read (TS only
	// before the windows, every output after them); 0: a channel's
	// retention and two segments, so every retained segment was fetched
	// in that mode.
	Fill time.Duration
	// Settle is how long TS only runs, not counted, before each A window;
	// 0: the longest Linger of the outputs in use and a segment duration;
	// negative: none.
	Settle time.Duration
	Group  string // part 1's feed group:port; channel i uses port+1+i
	Logf   func(format string, args ...any)
}

// DefaultConfig is the full-size benchmark: about eight minutes with
// fMP4, DASH and LL-HLS in use.
func DefaultConfig() Config {
	return Config{
		Bitrate:             4e6,
		SegmentDuration:     2,
		SegmentCount:        6,
		ChannelSegmentCount: 3,
		Duration:            5 * time.Second,
		Pairs:               3,
		Connections:         64,
		Threads:             1,
		Cases:               DefaultCases(),
		ServerCPUs:          "1",
		LoadCPUs:            "0",
		Channels:            16,
		Window:              10 * time.Second,
		WindowPairs:         2,
		PerOutput:           true,
		Group:               "239.9.13.1:5000",
	}
}

// fill is Fill, or its default for cfg.
func (cfg Config) fill() time.Duration {
	if cfg.Fill > 0 {
		return cfg.Fill
	}
	return time.Duration(Retained(cfg.ChannelSegmentCount)+2) * time.Duration(cfg.SegmentDuration) * time.Second
}

// Retained is the segments a channel holds once its window is full: the
// playlist's segment_count, as many again kept fetchable after they leave
// it, and the one being written (bench/memory).
func Retained(segmentCount int) int { return 2*segmentCount + 1 }

// Measure is one wrk run against one server.
type Measure struct {
	Server Server
	Pair   int
	Load   delivery.Load
	// CPU is the server's user+system time over the run (slabcast's
	// process, its ingest included; nginx's master and workers); Wall the
	// time it covers.
	CPU, Wall time.Duration
	// ServerBusy and LoadBusy are the busy time of the servers' cores and
	// of wrk's over Wall (/proc/stat); 0 when not pinned.
	ServerBusy, LoadBusy time.Duration
	URLs                 int
	Body                 float64 // mean body bytes of the rotation
}

// Cores is the server's CPU time per second of the run.
func (m Measure) Cores() float64 { return perSecond(m.CPU.Seconds(), m.Wall) }

// CPUPerGbit is the server's CPU seconds per Gbit sent; 0 without bytes.
func (m Measure) CPUPerGbit() float64 {
	if bits := float64(m.Load.Bytes) * 8 / 1e9; bits > 0 {
		return m.CPU.Seconds() / bits
	}
	return 0
}

// Busy returns ServerBusy and LoadBusy per second of the run, per core.
func (m Measure) Busy(serverCores, loadCores int) (server, load float64) {
	return proc.Share(m.ServerBusy, m.Wall, serverCores), proc.Share(m.LoadBusy, m.Wall, loadCores)
}

// Full is the share of a core taken as full.
const Full = proc.Full

// Bound says which core bounded a run: "server", "wrk", "both" or
// "neither". The server's is full when its core is busy ≥ Full or the
// process alone took ≥ 0.9 of its cores.
func (m Measure) Bound(serverCores, loadCores int) string {
	sb, lb := m.Busy(serverCores, loadCores)
	s := sb >= Full || (m.Server == Slabcast && serverCores > 0 && m.Cores()/float64(serverCores) >= 0.9)
	l := lb >= Full
	switch {
	case s && l:
		return "both"
	case s:
		return "server"
	case l:
		return "wrk"
	}
	return "neither"
}

// Result is one case of part 1.
type Result struct {
	Case Case
	// Absent says why the case was not measured (its output is not served
	// by this build); "" when it was.
	Absent   string
	Measures []Measure
}

// Values returns f of server s's runs, in order.
func (r *Result) Values(s Server, f func(Measure) float64) []float64 {
	var out []float64
	for _, m := range r.Measures {
		if m.Server == s {
			out = append(out, f(m))
		}
	}
	return out
}

// RPS is the median requests/s of server s.
func (r *Result) RPS(s Server) float64 {
	return median(r.Values(s, func(m Measure) float64 { return m.Load.RPS() }))
}

// Ratio is slabcast's median requests/s over nginx's; ok false without
// both.
func (r *Result) Ratio() (float64, bool) {
	s, n := r.RPS(Slabcast), r.RPS(Nginx)
	if s == 0 || n == 0 {
		return 0, false
	}
	return s / n, true
}

// PairRatios is each pair's slabcast requests/s over its nginx's.
func (r *Result) PairRatios() []float64 {
	s, n := r.Values(Slabcast, func(m Measure) float64 { return m.Load.RPS() }), r.Values(Nginx, func(m Measure) float64 { return m.Load.RPS() })
	var out []float64
	for i := range min(len(s), len(n)) {
		if n[i] > 0 {
			out = append(out, s[i]/n[i])
		}
	}
	return out
}

// Spread is server s's largest requests/s over its smallest, less one:
// the A-vs-A spread, how far the same run moves on this machine.
func (r *Result) Spread(s Server) float64 {
	return spread(r.Values(s, func(m Measure) float64 { return m.Load.RPS() }))
}

// Bounds counts server s's runs by what bounded them.
func (r *Result) Bounds(s Server, serverCores, loadCores int) map[string]int {
	out := map[string]int{}
	for _, m := range r.Measures {
		if m.Server == s {
			out[m.Bound(serverCores, loadCores)]++
		}
	}
	return out
}

// Kind is a packaging window's case.
type Kind uint8

// The window cases, alternated.
const (
	TSOnly Kind = iota // A: every new segment fetched as TS only
	All                // B: as TS and in every packaged form
)

func (k Kind) String() string {
	if k == All {
		return "B"
	}
	return "A"
}

// Fetched counts the fetcher's work (part 2).
type Fetched struct {
	Manifests, ManifestErrors int
	TSRequests                int
	TSBytes                   int64
	PackRequests              int   // packaged media and inits
	PackBytes                 int64 // their bodies
	Packaged                  int   // new segments of mode All: their packaged forms fetched
	PackagedTS                int64 // those segments' TS bytes
	Errors                    int   // failed media fetches
	FirstError                string
	Parts                     int // LL-HLS parts among PackRequests
	ByOutput                  map[string]int64
	ByOutputReqs              map[string]int
	InitRequests              int
	InitBytes                 int64
}

// sub is f less g, counters only.
func (f Fetched) sub(g Fetched) Fetched {
	d := Fetched{Manifests: f.Manifests - g.Manifests, ManifestErrors: f.ManifestErrors - g.ManifestErrors,
		TSRequests: f.TSRequests - g.TSRequests, TSBytes: f.TSBytes - g.TSBytes, PackRequests: f.PackRequests - g.PackRequests,
		PackBytes: f.PackBytes - g.PackBytes, Packaged: f.Packaged - g.Packaged, PackagedTS: f.PackagedTS - g.PackagedTS,
		Errors: f.Errors - g.Errors, Parts: f.Parts - g.Parts,
		InitRequests: f.InitRequests - g.InitRequests, InitBytes: f.InitBytes - g.InitBytes, FirstError: f.FirstError,
		ByOutput: map[string]int64{}, ByOutputReqs: map[string]int{}}
	for k, v := range f.ByOutput {
		d.ByOutput[k] = v - g.ByOutput[k]
	}
	for k, v := range f.ByOutputReqs {
		d.ByOutputReqs[k] = v - g.ByOutputReqs[k]
	}
	return d
}

// Window is one measured window of part 2.
type Window struct {
	Kind Kind
	// Set names the packaged outputs a B window fetched ("fmp4",
	// "fmp4,dash,llhls"); "" for A.
	Set   string
	Start time.Duration // since the first window began
	Wall  time.Duration
	// CPU is the daemon's CPU time over the window from
	// /proc/PID/task/*/schedstat (ns), Ticks from utime+stime, Worker the
	// receive worker thread's (schedstat); Busy the server core's busy
	// time, LoadBusy the load core's.
	CPU, Ticks, Worker, Busy, LoadBusy time.Duration
	InputBytes                         float64 // slabcast_input_bytes_total, every channel
	KernelDrops                        float64 // slabcast_input_kernel_drops_total
	Segments                           int     // slabcast_segments_total
	Fetched                            Fetched
}

// Cores is the daemon's CPU time a second.
func (w Window) Cores() float64 { return perSecond(w.CPU.Seconds(), w.Wall) }

// WorkerCores is the receive worker's CPU time a second.
func (w Window) WorkerCores() float64 { return perSecond(w.Worker.Seconds(), w.Wall) }

// InputGbps is the TS taken in, every channel, Gbit/s.
func (w Window) InputGbps() float64 { return perSecond(w.InputBytes*8/1e9, w.Wall) }

// PackagedGbps is the TS packaged (the TS bytes of the segments new in a
// B window, whose forms were fetched as the manifests listed them),
// Gbit/s.
func (w Window) PackagedGbps() float64 {
	return perSecond(float64(w.Fetched.PackagedTS)*8/1e9, w.Wall)
}

// CPUPerIngestGbit is the daemon's CPU seconds per Gbit taken in.
func (w Window) CPUPerIngestGbit() float64 {
	if w.InputBytes <= 0 {
		return 0
	}
	return w.CPU.Seconds() / (w.InputBytes * 8 / 1e9)
}

// Memory is the daemon's memory at one moment of part 3.
type Memory struct {
	What      string // "no stream", "TS only", "all outputs"
	Mem       proc.MemStatus
	Pool      int64 // slabcast_pool_bytes
	PoolFree  int64 // slabcast_pool_free_bytes
	HeapInuse float64
	HeapAlloc float64
	NextGC    float64 // go_memstats_next_gc_bytes: the heap size that starts the next GC
	// HeapSamples is go_memstats_heap_alloc_bytes every segment duration
	// through the mode's fill, to tell a steady heap from a growing one.
	HeapSamples []float64
	// PackHeld is the packaged bodies the fetcher got for segments still
	// retained (fetched within the last Retained segment durations), every
	// channel: what the daemon keeps with them at least.
	PackHeld int64
}

// BeyondPool is the resident memory not in the slab pool.
func (m Memory) BeyondPool() int64 { return m.Mem.VmRSS - m.Pool }

// Report is a whole Run.
type Report struct {
	report.Run
	Nginx, Wrk string
	Config     Config
	GoProcs    int     // cores slabcast's Go runtime saw
	Workers    int     // nginx worker_processes
	Input      float64 // part 1's stream's input bit/s (slabcast's metric)
	Results    []Result
	// Absent names the outputs this build does not serve, with why.
	Absent map[string]string
	// Part 2.
	ChannelInput float64 // one channel's input bit/s
	InUse        []string
	// Settle is the unmeasured time after each switch to TS only, for
	// the outputs' work after their last request (Output.Linger) to end.
	Settle      time.Duration
	Windows     []Window
	WorkerShare float64 // the receive worker's share of the daemon's CPU while only ingesting
	// FetchErrors and FirstFetchError: the fetcher's failed fetches over
	// parts 2 and 3, and the first one's error.
	FetchErrors     int
	FirstFetchError string
	// Part 3.
	Memory []Memory
	// Retention is how long a channel retains segments.
	Retention time.Duration
}

// Kind returns the windows of kind k.
func (rep *Report) Kind(k Kind) []Window {
	var out []Window
	for _, w := range rep.Windows {
		if w.Kind == k {
			out = append(out, w)
		}
	}
	return out
}

// Sets returns the output sets of the B windows, in the order first
// measured.
func (rep *Report) Sets() []string {
	var out []string
	for _, w := range rep.Windows {
		if w.Kind == All && !slices.Contains(out, w.Set) {
			out = append(out, w.Set)
		}
	}
	return out
}

// AllSet names the set of every output in use.
func (rep *Report) AllSet() string { return strings.Join(rep.InUse, ",") }

// Disturbed says why window w is left out of the comparison, "" when it
// is not: its ingest fell below 80 % of the windows' median (the daemon
// stalled, or the feeders did), it ran over its length by half (the
// daemon was slow to answer its scrape), or fetches failed in it.
func (rep *Report) Disturbed(w Window) string {
	var in []float64
	for _, x := range rep.Windows {
		in = append(in, x.InputGbps())
	}
	var why []string
	if m := median(in); m > 0 && w.InputGbps() < 0.8*m {
		why = append(why, fmt.Sprintf("ingest %.0f %% of the median", 100*w.InputGbps()/m))
	}
	if d := rep.Config.Window; d > 0 && w.Wall > d*3/2 {
		why = append(why, fmt.Sprintf("took %v", w.Wall.Round(100*time.Millisecond)))
	}
	if w.Fetched.Errors > 0 {
		why = append(why, fmt.Sprintf("%d failed fetches", w.Fetched.Errors))
	}
	return strings.Join(why, "; ")
}

// windowValues returns f over the undisturbed A windows (set "") or B
// windows of set.
func (rep *Report) windowValues(set string, f func(Window) float64) []float64 {
	var out []float64
	for _, w := range rep.Windows {
		if rep.Disturbed(w) != "" {
			continue
		}
		if (set == "" && w.Kind == TSOnly) || (set != "" && w.Kind == All && w.Set == set) {
			out = append(out, f(w))
		}
	}
	return out
}

// PackagingCost is the B windows' of set extra daemon CPU over the A
// windows' per Gbit of TS packaged: (median cores of B − median cores of
// A) ÷ median packaged Gbit/s of B. ok is false without both kinds or
// without TS packaged.
func (rep *Report) PackagingCost(set string) (perGbit, extraCores float64, ok bool) {
	a, b := rep.windowValues("", Window.Cores), rep.windowValues(set, Window.Cores)
	g := median(rep.windowValues(set, Window.PackagedGbps))
	if len(a) == 0 || len(b) == 0 || g <= 0 {
		return 0, 0, false
	}
	extra := median(b) - median(a)
	return extra / g, extra, true
}

// MemoryOf returns the memory figure called what, nil if none.
func (rep *Report) MemoryOf(what string) *Memory {
	for i := range rep.Memory {
		if rep.Memory[i].What == what {
			return &rep.Memory[i]
		}
	}
	return nil
}

// The memory moments.
const (
	MemNoStream = "no stream"
	MemTS       = "TS only"
	MemAll      = "all outputs"
)

// ErrMissingTool is returned (wrapped) when nginx, wrk, ffmpeg or go is
// not installed: tests skip on it.
var ErrMissingTool = daemon.ErrMissingTool

func perSecond(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

// median is the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// spread is the largest of xs over the smallest, less one; 0 for fewer
// than two or a zero.
func spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo <= 0 {
		return math.Inf(1)
	}
	return hi/lo - 1
}
