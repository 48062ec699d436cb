// Package channels is the second benchmark of slabcast's suite (issue 5,
// item 2): channels per core. N multicast channels of R Mbit/s each are
// sent from one sendmmsg sender pinned to one core; the headend under test
// runs on the other core:
//
//   - slabcast: one daemon (`cpus 1;`, and the whole process under
//     `taskset -c 1`), one stream per channel;
//   - ffmpeg: the do-it-yourself headend, one `ffmpeg -c copy -f hls`
//     process per channel reading udp://GROUP:PORT and writing segments to
//     tmpfs, every process under `taskset -c 1`.
//
// For each R, N is stepped up until loss. Each point measures the CPU time
// (utime+stime from /proc/PID/stat, summed over the processes) that the
// headend spent over the window and whether every datagram made it. Loss
// for slabcast is exact: datagrams sent against its
// slabcast_input_datagrams_total, plus the sockets' kernel drops and TS
// packets missing by continuity. ffmpeg counts nothing, so its loss is
// judged from the outside: the kernel drops on its sockets (/proc/net/udp,
// exact), its own warnings (FIFO overruns: datagrams it read too late;
// corrupt packets: its demuxer's continuity counter errors),
// processes that died, and how long the fleet went on working after the sender stopped (a
// process that cannot keep up falls behind for seconds before anything is
// dropped: its socket buffer and FIFO hold seconds of data).
//
// Run sends multicast, so it must run in a private network namespace whose
// lo carries 224.0.0.0/4 (see internal/testnet); it refuses otherwise.
// Nothing here is safe for concurrent use: one Run at a time per process.
package channels

import (
	"errors"
	"fmt"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("channels: needs Linux")

// Goals of issue 5 for this benchmark.
const (
	// GoalRatio: at least this many times fewer CPU-seconds per channel
	// than ffmpeg.
	GoalRatio = 10.0
	// GoalGbps: no loss at this aggregate rate on one core.
	GoalGbps = 1.0
	// GoalMbps, GoalNs and GoalMany are issue 8's: GoalRatio at each of
	// GoalNs channels of GoalMbps, and GoalMany of them without loss.
	GoalMbps = 4.0
	GoalMany = 500
)

// GoalNs are the channel counts of GoalMbps at which slabcast must use
// GoalRatio times less CPU a channel than ffmpeg (issue 8).
var GoalNs = []int{40, 200}

// System is a headend under test.
type System uint8

// The systems, in the order Run measures them.
const (
	Slabcast System = iota
	FFmpeg
	// Bare is the floor: one thread on the headend's core that only
	// receives every channel (recvmmsg on sockets laid out as slabcast's,
	// epoll) and discards, for µs of thread time a datagram beside
	// slabcast's at the same N.
	Bare
)

// String names the system for tables.
func (s System) String() string {
	switch s {
	case Slabcast:
		return "slabcast"
	case FFmpeg:
		return "ffmpeg -c copy -f hls"
	case Bare:
		return "bare recvmmsg loop"
	}
	return "unknown"
}

// Rate is one channel bitrate and the channel counts tried at it.
type Rate struct {
	Mbps     float64 // nominal; the clip is made for it and its real rate is reported
	Slabcast []int   // channel counts for slabcast, ascending, tried until loss
	FFmpeg   []int   // the same for ffmpeg
}

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root   string // module root: slabcast is built from it
	Binary string // a prebuilt slabcast; "" builds one from Root
	// ClipDir caches the generated clips. FallbackClip, when set, is used
	// for every rate when ffmpeg cannot make clips (its own bitrate then
	// stands for the rate).
	ClipDir, FallbackClip string
	Rates                 []Rate
	SenderCPU             int
	ReceiverCPU           int           // slabcast's `cpus` and taskset core, and ffmpeg's
	Point                 time.Duration // measured sending time of one point
	WarmMax               time.Duration // bound on the warm-up before a point
	Steer                 bool          // receive packet steering on lo to ReceiverCPU
	// OnePort puts every channel on one port (239.10.x.y:20000), the usual
	// IPTV layout, where slabcast's streams share a socket; false gives
	// each channel a port of its own (and slabcast a socket per channel).
	OnePort bool
	// Ring runs slabcast with `multicast_ring on;`: the channels come
	// through an AF_PACKET ring per port instead of UDP sockets.
	Ring   bool
	Retry  bool // a point that loses is measured once more before the ladder stops (slabcast only: an ffmpeg point takes long to set up)
	FFmpeg bool // measure the ffmpeg baseline
	Bare   bool // measure the bare loop at slabcast's channel counts
	// Burst and BurstAbove: a point whose aggregate target exceeds
	// BurstAbove Gbit/s is sent Burst datagrams of a group at a time with
	// UDP GSO (sender.EnableBursts), so that the sender's one core outruns
	// the headend; below it every datagram is its own send.
	Burst      int
	BurstAbove float64
	// Pairs is how many more times each of GoalNs is measured after the
	// ladders of GoalMbps, slabcast and ffmpeg back to back (see Pair).
	Pairs           int
	SegmentDuration time.Duration // for both systems
	// Budget bounds the ladders: a rung that would start after Budget has
	// passed since the start is skipped (and reported as not reached).
	Budget time.Duration
	Logf   func(format string, args ...any) // progress; nil discards
}

// DefaultConfig is the full-size benchmark, about four minutes.
func DefaultConfig() Config {
	return Config{
		ClipDir: "/tmp/slabcast-bench-clips",
		Rates: []Rate{
			{Mbps: 4, Slabcast: []int{40, 200, 500, 640, 800}, FFmpeg: []int{40, 96, 200}},
			{Mbps: 15, Slabcast: []int{16, 40, 134, 170, 200}, FFmpeg: []int{16, 40, 64}},
		},
		SenderCPU:       0,
		ReceiverCPU:     1,
		Point:           3 * time.Second,
		WarmMax:         20 * time.Second,
		Steer:           true,
		OnePort:         true,
		Pairs:           3,
		Bare:            true,
		Burst:           4,
		BurstAbove:      1.2,
		Retry:           true,
		FFmpeg:          true,
		SegmentDuration: 2 * time.Second,
		Budget:          300 * time.Second,
	}
}

// Point is one measured channel count.
type Point struct {
	System System
	N      int // channels
	// Started is the channels that took data in within WarmMax of sending;
	// when fewer than N, the point was not measured (and counts as loss).
	Started int
	Mbps    float64 // each channel's real rate, Mbit/s of UDP payload
	Sent    uint64  // datagrams sendmmsg accepted, all channels
	// Received is what slabcast counted (input_datagrams_total); ffmpeg
	// counts nothing, HaveReceived is false for it.
	Received     uint64
	HaveReceived bool
	KernelDrops  uint64 // /proc/net/udp drops on the channels' sockets
	// BacklogDrops is what the kernel dropped before any socket: a CPU's
	// input backlog full (/proc/net/softnet_stat, every CPU; the receive
	// half on the headend's core cannot keep up). It explains loss; it is
	// in Sent - Received already.
	BacklogDrops uint64
	TSLost       uint64 // slabcast: TS packets missing by continuity
	Dropped      uint64 // slabcast: TS packets not stored for want of slab memory
	Overruns     int    // ffmpeg: FIFO overrun and corrupt packet (continuity error) warnings
	Warnings     []string
	Alive        int   // processes running at the end (1 for slabcast)
	BytesSent    int64 // UDP payload sent, all channels
	Segments     int   // segments completed (slabcast) or begun (ffmpeg) in the window, all channels
	// CatchUp is how long the headend went on taking data in after the
	// sender stopped (slabcast: its datagram count; ffmpeg: its CPU time).
	CatchUp time.Duration
	// CPU is the user+system time of the headend's processes over Wall,
	// the window from the start of sending until every channel drained;
	// CoreBusy is everything the receiver's core did meanwhile (/proc/stat,
	// the kernel's receive half with steering on, and other work).
	CPU, CoreBusy time.Duration
	Elapsed, Wall time.Duration
	SendErrors    uint64
	Burst         int   // datagrams of a group a send (UDP GSO); 0: one
	Memory        int64 // slabcast: the slab pool configured
}

// MaxCatchUp is the longest an ffmpeg fleet may go on working after the
// sender stopped and still count as keeping up. ffmpeg's socket buffer and
// its reading thread's FIFO hold seconds of a channel, so a fleet that is
// too slow falls behind for a whole point before anything is dropped; a
// fleet that keeps up is idle within a few scheduler ticks.
const MaxCatchUp = 300 * time.Millisecond

// ZeroLoss reports whether every datagram of the point made it.
func (p Point) ZeroLoss() bool {
	if p.Started < p.N || p.Sent == 0 || p.KernelDrops != 0 || p.Alive != p.expectAlive() {
		return false
	}
	if p.System == Slabcast || p.System == Bare {
		return p.HaveReceived && p.Received == p.Sent && p.TSLost == 0 && p.Dropped == 0
	}
	return p.Overruns == 0 && p.CatchUp <= MaxCatchUp
}

func (p Point) expectAlive() int {
	if p.System == FFmpeg {
		return p.N
	}
	return 1
}

// Offered is the aggregate rate sent, Gbit/s of UDP payload.
func (p Point) Offered() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.BytesSent) * 8 / p.Elapsed.Seconds() / 1e9
}

// Target is the aggregate rate asked of the sender, Gbit/s.
func (p Point) Target() float64 { return float64(p.N) * p.Mbps / 1e3 }

// CPUShare is the headend's CPU time per second of the window: 1.0 is
// one core fully busy.
func (p Point) CPUShare() float64 { return share(p.CPU, p.Wall) }

// BusyShare is the receiver core's busy time per second of the window.
func (p Point) BusyShare() float64 { return share(p.CoreBusy, p.Wall) }

// PerChannel is the headend's CPU-seconds per channel per second of
// media sent: the share of a core one channel costs.
func (p Point) PerChannel() float64 {
	if p.N == 0 || p.Elapsed <= 0 {
		return 0
	}
	return p.CPU.Seconds() / float64(p.N) / p.Elapsed.Seconds()
}

// BusyPerChannel is the receiver core's busy time per channel per second
// of media sent: the headend and the kernel's receive work together.
func (p Point) BusyPerChannel() float64 {
	if p.N == 0 || p.Elapsed <= 0 {
		return 0
	}
	return p.CoreBusy.Seconds() / float64(p.N) / p.Elapsed.Seconds()
}

func share(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}

// Series is one system's ladder at one rate.
type Series struct {
	System  System
	Rate    Rate
	Mbps    float64 // the clip's real rate
	Points  []Point // in the order measured (retries included)
	Skipped []int   // channel counts not tried: the time budget ran out
	// Best is the point with the most channels and zero loss; HaveBest is
	// false when every point lost.
	Best     Point
	HaveBest bool
	// Lost is true when the ladder ended on a loss (not on its last rung).
	Lost bool
}

// Report is a whole Run.
type Report struct {
	report.Run
	FFmpegVer string // first line of ffmpeg -version, "" when not measured
	Steered   bool
	// GroupLimit is net.ipv4.igmp_max_memberships in the namespace: the
	// groups one socket may join.
	GroupLimit string
	Config     Config
	Clips      map[float64]string // nominal rate to clip path
	Series     []Series
	Pairs      []Pair // GoalNs measured again, back to back (Config.Pairs)
	// FFmpegSkipped says why the ffmpeg baseline was not measured.
	FFmpegSkipped string
}

// Pair is one of GoalNs measured for slabcast and then at once for ffmpeg
// (when ffmpeg's ladder carried that many channels).
type Pair struct {
	N                int
	Slabcast, FFmpeg Point
	HaveFFmpeg       bool
}

// Ratio is ffmpeg's CPU a channel over slabcast's; ok when both ran
// without loss.
func (p Pair) Ratio() (r float64, ok bool) {
	if !p.HaveFFmpeg || !p.Slabcast.ZeroLoss() || !p.FFmpeg.ZeroLoss() || p.Slabcast.PerChannel() <= 0 {
		return 0, false
	}
	return p.FFmpeg.PerChannel() / p.Slabcast.PerChannel(), true
}

func (p Pair) String() string {
	s := fmt.Sprintf("slabcast %.3f%% a channel (zero loss %v)", 100*p.Slabcast.PerChannel(), p.Slabcast.ZeroLoss())
	if p.HaveFFmpeg {
		s += fmt.Sprintf(", ffmpeg %.3f%% (zero loss %v)", 100*p.FFmpeg.PerChannel(), p.FFmpeg.ZeroLoss())
	}
	if r, ok := p.Ratio(); ok {
		s += fmt.Sprintf(": %.2f×", r)
	}
	return s
}

// Find returns the series of sys at nominal rate mbps, nil if none.
func (rep *Report) Find(sys System, mbps float64) *Series {
	for i := range rep.Series {
		if s := &rep.Series[i]; s.System == sys && s.Rate.Mbps == mbps {
			return s
		}
	}
	return nil
}

// Compare is slabcast against ffmpeg at one rate: per-channel CPU at the
// largest channel count both ran without loss.
type Compare struct {
	Mbps             float64
	N                int
	Slabcast, FFmpeg float64 // CPU share per channel
	Ratio            float64 // FFmpeg / Slabcast
	// SlabcastBusy, FFmpegBusy and BusyRatio are the same for the core's
	// busy time (the kernel's receive work included).
	SlabcastBusy, FFmpegBusy, BusyRatio float64
	HaveN                               bool // a common zero-loss N exists
	SlabBest, FFmBest                   int  // largest zero-loss N of each, 0 if none
}

// Comparisons returns one Compare per rate measured for both systems.
func (rep *Report) Comparisons() []Compare {
	var out []Compare
	for _, r := range rep.Config.Rates {
		s, f := rep.Find(Slabcast, r.Mbps), rep.Find(FFmpeg, r.Mbps)
		if s == nil || f == nil {
			continue
		}
		c := Compare{Mbps: s.Mbps}
		if s.HaveBest {
			c.SlabBest = s.Best.N
		}
		if f.HaveBest {
			c.FFmBest = f.Best.N
		}
		for _, fp := range f.Points {
			if !fp.ZeroLoss() {
				continue
			}
			for _, sp := range s.Points {
				if sp.N == fp.N && sp.ZeroLoss() && fp.N >= c.N && sp.PerChannel() > 0 {
					c.N, c.HaveN = fp.N, true
					c.Slabcast, c.FFmpeg = sp.PerChannel(), fp.PerChannel()
					c.Ratio = c.FFmpeg / c.Slabcast
					c.SlabcastBusy, c.FFmpegBusy = sp.BusyPerChannel(), fp.BusyPerChannel()
					if c.SlabcastBusy > 0 {
						c.BusyRatio = c.FFmpegBusy / c.SlabcastBusy
					}
				}
			}
		}
		out = append(out, c)
	}
	return out
}

func (s System) short() string {
	switch s {
	case FFmpeg:
		return "ffmpeg"
	case Bare:
		return "bare loop"
	}
	return "slabcast"
}

func fmtGbps(g float64) string { return fmt.Sprintf("%.2f", g) }
