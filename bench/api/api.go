// Package api is a benchmark of slabcast's suite: what operators watching
// the daemon through its HTTP API v3 (Flussonic's, the console's) cost the
// work it is there for. Twenty consoles each asking for the stream list,
// stats included (`GET /streamer/api/v3/streams`, HTTP Basic), once a
// second must cost multicast ingest and HLS segment delivery nothing
// measurable.
//
// One daemon (`cpus 1;`, the whole process under `taskset -c 1`) takes in
// N multicast channels sent by the suite's sendmmsg sender from a thread
// pinned to the other core, and serves a steady, paced HLS load: V viewers
// a channel, each asking for the playlist and its newest segment once a
// segment_duration, played by a few client goroutines with keep-alive
// connections on the sender's core. Over that steady state the benchmark
// measures back-to-back windows of equal length, alternately without the
// pollers (A) and with them (B), so that drift on the shared machine falls
// on both alike. Every window measures:
//
//   - ingest: datagrams sent against the daemon's count, the sockets'
//     kernel drops, TS packets lost by continuity and dropped for want of
//     memory (all must be zero), and the CPU time per datagram of the
//     daemon's receive worker (the locked OS thread that reads the
//     sockets and cuts segments) and of the whole process (HTTP serving,
//     the API's answers in B, included), from /proc/PID/task/*/schedstat
//     (nanoseconds) and utime+stime (10 ms ticks);
//   - delivery: the HLS clients' segment and playlist fetch latency
//     (p50, p99) and the Gbit/s and fetches/s they achieved;
//   - in B, the pollers' own answer latency and answer size.
//
// Each measure's B/A ratio (the mean of the B windows over that of the A
// windows) is judged against the A-vs-A spread (the largest over the
// smallest A window, less one): a difference within it is nothing
// measurable.
//
// Run sends multicast, so it must run in a private network namespace whose
// lo carries 224.0.0.0/4 (see internal/testnet); it refuses otherwise.
// Nothing here is safe for concurrent use: one Run at a time per process.
package api

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("api: needs Linux")

// DefaultPollPath is what the pollers ask for: every stream, stats
// included (the API's default page holds up to 100 streams).
const DefaultPollPath = "/streamer/api/v3/streams"

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root   string // module root: slabcast is built from it unless Binary is set
	Binary string // a prebuilt slabcast; "" builds one from Root
	// Clip is the MPEG-TS clip every channel loops; "" takes (or makes with
	// ffmpeg) a Mbps clip in ClipDir, or FallbackClip when that fails.
	Clip, ClipDir, FallbackClip string
	Mbps                        float64 // nominal channel rate, for the clip made
	Channels                    int
	Port                        uint16 // every channel's port (239.10.x.y:Port, the IPTV layout)
	SenderCPU, DaemonCPU        int
	SegmentDuration             time.Duration
	SegmentCount                int
	// Pairs is the number of A windows and of B windows, alternated
	// A, B, A, B, …; Window the length of each.
	Pairs   int
	Window  time.Duration
	WarmMax time.Duration // bound on the warm-up (every playlist full)
	// Pollers ask for PollPath every PollEvery each, with HTTP Basic User
	// and Password (the config gets `edit_auth User Password;`), their
	// phases spread evenly over PollEvery.
	Pollers        int
	PollEvery      time.Duration
	PollPath       string
	User, Password string
	// Viewers a channel each fetch the playlist and then the newest
	// segment it lists once a SegmentDuration; Fetchers client goroutines,
	// each with one keep-alive connection, share those fetches, paced
	// evenly.
	Viewers, Fetchers int
	// A window is disturbed when other work took more than ForeignMax of
	// the daemon's core (other tasks' user and system time there, and
	// the hypervisor's steal), or the sender, whose core other work can
	// take too, sent less than SendMin of its pace. Disturbed windows are
	// shown but left out of the comparison; while either case has fewer
	// than Pairs clean windows, up to ExtraPairs more pairs are measured.
	ForeignMax, SendMin float64
	ExtraPairs          int
	Steer               bool // receive packet steering on lo to DaemonCPU
	// DaemonEnv is added to the daemon's environment (experiments).
	DaemonEnv []string
	Logf      func(format string, args ...any) // progress; nil discards
}

// DefaultConfig is the full-size benchmark: 40 channels of 4 Mbit/s, 3
// pairs of 10 s windows, about a minute and a half with the build (two
// and a half at most, should every extra pair be needed).
func DefaultConfig() Config {
	return Config{
		ClipDir:         "/tmp/slabcast-bench-clips",
		Mbps:            4,
		Channels:        40,
		Port:            20000,
		SenderCPU:       0,
		DaemonCPU:       1,
		SegmentDuration: 2 * time.Second,
		SegmentCount:    3,
		Pairs:           3,
		Window:          10 * time.Second,
		WarmMax:         30 * time.Second,
		Pollers:         20,
		PollEvery:       time.Second,
		PollPath:        DefaultPollPath,
		User:            "bench",
		Password:        "bench",
		Viewers:         8,
		Fetchers:        8,
		ForeignMax:      0.10,
		SendMin:         0.99,
		ExtraPairs:      3,
	}
}

// FetchRate is the HLS load: segment fetches (each after its playlist) a
// second, every channel's viewers together.
func (c Config) FetchRate() float64 {
	if c.SegmentDuration <= 0 {
		return 0
	}
	return float64(c.Channels*c.Viewers) / c.SegmentDuration.Seconds()
}

// Dist summarises a set of latencies.
type Dist struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// NewDist computes the distribution of samples (nearest rank). It sorts
// samples in place.
func NewDist(samples []time.Duration) Dist {
	if len(samples) == 0 {
		return Dist{}
	}
	slices.Sort(samples)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(samples))+0.999999) - 1
		return samples[max(0, min(len(samples)-1, i))]
	}
	return Dist{N: len(samples), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: samples[len(samples)-1]}
}

// Kind is a window's case.
type Kind uint8

// The cases, alternated.
const (
	Without Kind = iota // A: ingest and HLS load only
	With                // B: the same, and the pollers
)

func (k Kind) String() string {
	if k == With {
		return "B"
	}
	return "A"
}

// Window is one measured window.
type Window struct {
	Kind  Kind
	Start time.Duration // since the first window began
	// Elapsed is the sender's time; Wall the time between the window's
	// two snapshots, which the CPU figures cover.
	Elapsed, Wall time.Duration

	// Ingest, over the window. Received is the daemon's
	// slabcast_input_datagrams_total; every counter here but Sent must
	// stay zero.
	Sent, Received, SendErrors     uint64
	KernelDrops, BacklogDrops      uint64
	TSLost, Dropped, PoolExhausted uint64
	Segments                       int
	CPU, Ticks, Worker, Busy       time.Duration // see Report; Worker 0 when not found
	// Foreign is the time other tasks ran on the daemon's core (its user
	// and system time less the daemon's utime+stime, in ticks), Steal
	// the time the hypervisor took it.
	Foreign, Steal time.Duration
	HTTPRequests   uint64  // slabcast_http_requests_total
	InputRate      float64 // datagrams a second sent
	// SendTarget and FetchTarget are the datagrams and segment fetches
	// the window was paced for: a sender or clients that fell short (their
	// core busy with other work) offered less load.
	SendTarget, FetchTarget         float64
	FetchDist, PlaylistDist         Dist // HLS: segment and playlist fetch latency
	Fetches, FetchErrors, LateStart int
	FetchBytes                      int64 // segment bodies
	PollDist                        Dist  // B: answer latency
	Polls, PollErrors, NewConns     int
	PollBytes                       int64 // answer bodies
	// MinStreams and MinRunning are the fewest streams an answer listed,
	// and the fewest of them with status running; -1 without answers.
	MinStreams, MinRunning int
}

// ForeignShare is Foreign and Steal per second of the window.
func (w Window) ForeignShare() float64 { return perSecond((w.Foreign + w.Steal).Seconds(), w.Wall) }

// SendShare is what the sender sent over what its pace asked for.
func (w Window) SendShare() float64 {
	if w.SendTarget <= 0 {
		return 0
	}
	return float64(w.Sent) / w.SendTarget
}

// Disturbed says why other work on the machine disturbed the window
// beyond cfg's bounds; "" when it did not.
func (w Window) Disturbed(cfg Config) string {
	var why []string
	if f := w.ForeignShare(); cfg.ForeignMax > 0 && f > cfg.ForeignMax {
		why = append(why, fmt.Sprintf("other work took %.2f of the daemon's core", f))
	}
	if s := w.SendShare(); cfg.SendMin > 0 && s < cfg.SendMin {
		why = append(why, fmt.Sprintf("the sender sent %.1f%% of its pace", 100*s))
	}
	return strings.Join(why, "; ")
}

// ZeroLoss reports whether every datagram sent in the window reached the
// daemon and was stored.
func (w Window) ZeroLoss() bool {
	return w.Sent > 0 && w.Received == w.Sent && w.KernelDrops == 0 && w.TSLost == 0 &&
		w.Dropped == 0 && w.PoolExhausted == 0
}

func perDatagram(d time.Duration, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / 1e3 / float64(n)
}

func perSecond(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

// CPUPerDatagram is the daemon's CPU time (schedstat) per datagram
// received, µs.
func (w Window) CPUPerDatagram() float64 { return perDatagram(w.CPU, w.Received) }

// TicksPerDatagram is the same from utime+stime, µs.
func (w Window) TicksPerDatagram() float64 { return perDatagram(w.Ticks, w.Received) }

// WorkerPerDatagram is the receive worker thread's CPU time per datagram,
// µs.
func (w Window) WorkerPerDatagram() float64 { return perDatagram(w.Worker, w.Received) }

// Cores is the daemon's CPU time per second of the window.
func (w Window) Cores() float64 { return perSecond(w.CPU.Seconds(), w.Wall) }

// BusyShare is the daemon's core's busy time per second of the window.
func (w Window) BusyShare() float64 { return perSecond(w.Busy.Seconds(), w.Wall) }

// Gbps is the HLS clients' segment throughput, body bytes.
func (w Window) Gbps() float64 { return perSecond(float64(w.FetchBytes)*8/1e9, w.Elapsed) }

// FetchesPerSecond is the segment fetches the HLS clients completed a
// second.
func (w Window) FetchesPerSecond() float64 { return perSecond(float64(w.Fetches), w.Elapsed) }

// AnswerBytes is the mean size of a poll answer's body.
func (w Window) AnswerBytes() float64 {
	if w.Polls == 0 {
		return 0
	}
	return float64(w.PollBytes) / float64(w.Polls)
}

// Report is a whole Run.
type Report struct {
	report.Run
	Config  Config
	Bitrate float64 // the clip's real rate, bit/s
	Memory  int64   // the daemon's slab pool
	Steered bool
	// WorkerShare is the receive worker's share of the daemon's CPU time
	// while it only took in the channels, when it was found (the thread
	// with the most CPU time, at least half of it); 0 otherwise.
	WorkerShare float64
	WorkerFound bool
	Windows     []Window
	// TotalSent and TotalReceived cover every window, counted after the
	// daemon drained at the end.
	TotalSent, TotalReceived uint64
	// Example is one poll answer's size and stream count, for the setup.
	ExampleStreams int
	// FirstFetchError and FirstPollError say what went wrong first, if
	// anything did.
	FirstFetchError, FirstPollError string
}

// Compared returns the windows the comparison uses: the undisturbed ones,
// or, when either case has fewer than two of them, every window (all is
// then true).
func (rep *Report) Compared() (ws []Window, all bool) {
	var a, b int
	for _, w := range rep.Windows {
		if w.Disturbed(rep.Config) != "" {
			continue
		}
		ws = append(ws, w)
		if w.Kind == With {
			b++
		} else {
			a++
		}
	}
	if a < 2 || b < 2 {
		return rep.Windows, true
	}
	return ws, false
}

// Kind returns the windows of kind k, in order.
func (rep *Report) Kind(k Kind) []Window {
	var out []Window
	for _, w := range rep.Windows {
		if w.Kind == k {
			out = append(out, w)
		}
	}
	return out
}

// ZeroLoss reports whether every window and the whole series lost nothing.
func (rep *Report) ZeroLoss() bool {
	if len(rep.Windows) == 0 || rep.TotalSent == 0 || rep.TotalReceived != rep.TotalSent {
		return false
	}
	for _, w := range rep.Windows {
		if !w.ZeroLoss() {
			return false
		}
	}
	return true
}

// Measure is one figure taken in every window, compared between the
// cases.
type Measure struct {
	Name, Unit string
	Format     string // fmt verb for the figure
	Group      string // "ingest", "delivery" or "daemon"
	Judged     bool   // part of the verdict (else: context)
	// Worse is the direction that costs: +1 when a higher figure is worse
	// (CPU, latency), -1 when a lower one is (throughput).
	Worse int
	A, B  []float64 // the compared windows
	// AllA and AllB hold every window's figure, disturbed or not.
	AllA, AllB []float64
}

// RatioAll is Ratio over every window.
func (m Measure) RatioAll() float64 { return Measure{A: m.AllA, B: m.AllB}.Ratio() }

// median is the middle of x (the mean of the two middle figures of an
// even count): one odd window moves it little, where it would move a mean.
func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	y := slices.Sorted(slices.Values(x))
	n := len(y)
	if n%2 == 1 {
		return y[n/2]
	}
	return (y[n/2-1] + y[n/2]) / 2
}

// MidA and MidB are the medians over each case's windows.
func (m Measure) MidA() float64 { return median(m.A) }
func (m Measure) MidB() float64 { return median(m.B) }

// Ratio is MidB / MidA; NaN without both.
func (m Measure) Ratio() float64 {
	a, b := m.MidA(), m.MidB()
	if math.IsNaN(a) || math.IsNaN(b) || a == 0 {
		return math.NaN()
	}
	return b / a
}

// Spread is the run-to-run spread of x: the largest over the smallest,
// less one (0.05: the windows differ by up to 5%); NaN with fewer than two
// windows or a figure at or below zero.
func Spread(x []float64) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	lo, hi := slices.Min(x), slices.Max(x)
	if lo <= 0 {
		return math.NaN()
	}
	return hi/lo - 1
}

// Verdict is how a measure's B/A compares with the A-vs-A spread.
type Verdict uint8

// The verdicts.
const (
	Undetermined Verdict = iota // too few windows, or no figure
	Nothing                     // |B/A − 1| within the A-vs-A spread, B not apart from A
	Higher                      // B above A by more than the spread, or every B window above every A window
	Lower                       // the same, below
)

// Floor is the smallest departure of B/A from 1 that counts: below it, a
// difference is below what the windows' pacing and counts resolve.
const Floor = 0.01

// MinApart is the fewest windows of each case for which B lying wholly
// apart from A counts on its own: with three of each, every B window above
// every A window happens once in twenty orderings without any effect.
const MinApart = 3

// Pairings counts the pairs of an A window and a B window in which B's
// figure is higher and in which it is lower, of all nA × nB pairs.
func (m Measure) Pairings() (higher, lower, pairs int) {
	for _, a := range m.A {
		for _, b := range m.B {
			switch {
			case b > a:
				higher++
			case b < a:
				lower++
			}
		}
	}
	return higher, lower, len(m.A) * len(m.B)
}

// Verdict judges m: a cost shows when B/A departs from 1 by Floor or more
// and either by more than the A-vs-A spread or, with MinApart windows of
// each case or more, with every B window beyond every A window on the same
// side (the spread, from a few windows, is at the mercy of one odd
// window).
func (m Measure) Verdict() Verdict {
	r, s := m.Ratio(), Spread(m.A)
	if math.IsNaN(r) || math.IsNaN(s) {
		return Undetermined
	}
	higher, lower, pairs := m.Pairings()
	apart := len(m.A) >= MinApart && len(m.B) >= MinApart
	switch {
	case math.Abs(r-1) < Floor:
		return Nothing
	case apart && higher == pairs:
		return Higher
	case apart && lower == pairs:
		return Lower
	case math.Abs(r-1) <= s:
		return Nothing
	case r > 1:
		return Higher
	}
	return Lower
}

// Costs reports whether m's verdict is a cost: B measurably worse than A.
func (m Measure) Costs() bool {
	v := m.Verdict()
	return v == Higher && m.Worse > 0 || v == Lower && m.Worse < 0
}

func (v Verdict) String() string {
	switch v {
	case Nothing:
		return "nothing measurable"
	case Higher:
		return "measurable: B higher"
	case Lower:
		return "measurable: B lower"
	}
	return "undetermined"
}

// Measures returns every compared figure, per compared window of each
// case (Compared), and per window of each case.
func (rep *Report) Measures() []Measure {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	type fig struct {
		name, unit, format, group string
		judged                    bool
		worse                     int
		f                         func(Window) float64
	}
	// Without the receive worker found, the daemon's whole CPU stands for
	// ingest in the verdict (it includes the answers themselves).
	figs := []fig{
		{"receive worker CPU a datagram", "µs", "%.3f", "ingest", true, 1, func(w Window) float64 { return w.WorkerPerDatagram() }},
		{"daemon CPU a datagram (schedstat)", "µs", "%.3f", "daemon", !rep.WorkerFound, 1, func(w Window) float64 { return w.CPUPerDatagram() }},
		{"daemon CPU a datagram (utime+stime)", "µs", "%.3f", "daemon", false, 1, func(w Window) float64 { return w.TicksPerDatagram() }},
		{"daemon's core busy", "cores", "%.3f", "daemon", false, 1, func(w Window) float64 { return w.BusyShare() }},
		{"segment fetch p50", "ms", "%.3f", "delivery", true, 1, func(w Window) float64 { return ms(w.FetchDist.P50) }},
		{"segment fetch p99", "ms", "%.3f", "delivery", true, 1, func(w Window) float64 { return ms(w.FetchDist.P99) }},
		{"playlist fetch p50", "ms", "%.3f", "delivery", false, 1, func(w Window) float64 { return ms(w.PlaylistDist.P50) }},
		{"playlist fetch p99", "ms", "%.3f", "delivery", false, 1, func(w Window) float64 { return ms(w.PlaylistDist.P99) }},
		{"segment throughput", "Gbit/s", "%.3f", "delivery", false, -1, func(w Window) float64 { return w.Gbps() }},
		{"segment fetches a second", "/s", "%.1f", "delivery", false, -1, func(w Window) float64 { return w.FetchesPerSecond() }},
	}
	compared, _ := rep.Compared()
	var out []Measure
	for _, f := range figs {
		m := Measure{Name: f.name, Unit: f.unit, Format: f.format, Group: f.group, Judged: f.judged, Worse: f.worse}
		if f.group == "ingest" && !rep.WorkerFound {
			continue
		}
		for _, w := range compared {
			if w.Kind == With {
				m.B = append(m.B, f.f(w))
			} else {
				m.A = append(m.A, f.f(w))
			}
		}
		for _, w := range rep.Windows {
			if w.Kind == With {
				m.AllB = append(m.AllB, f.f(w))
			} else {
				m.AllA = append(m.AllA, f.f(w))
			}
		}
		out = append(out, m)
	}
	return out
}

// APICost is what the pollers added to the daemon's CPU time, per answer
// (µs) and per second (share of a core): the B windows' CPU a second less
// the A windows', from schedstat. ok is false without answers.
func (rep *Report) APICost() (perAnswer, cores float64, ok bool) {
	var cpuA, cpuB, wallA, wallB time.Duration
	polls := 0
	compared, _ := rep.Compared()
	for _, w := range compared {
		if w.Kind == With {
			cpuB, wallB = cpuB+w.CPU, wallB+w.Wall
			polls += w.Polls
		} else {
			cpuA, wallA = cpuA+w.CPU, wallA+w.Wall
		}
	}
	if polls == 0 || wallA <= 0 || wallB <= 0 {
		return 0, 0, false
	}
	cores = cpuB.Seconds()/wallB.Seconds() - cpuA.Seconds()/wallA.Seconds()
	perAnswer = cores * wallB.Seconds() / float64(polls) * 1e6
	return perAnswer, cores, true
}
