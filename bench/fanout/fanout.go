// Package fanout is the fourth benchmark of slabcast's suite (issue 5,
// item 4): HTTP MPEG-TS fan-out. slabcast runs as a child process (the real
// binary, bench/internal/daemon) pinned to one core, with one channel
// fed over multicast at a high bitrate; K clients in this process, pinned to
// the other core, each a goroutine reading /NAME/mpegts as fast as the
// stream produces, are stepped up (1, 10, 50, 100, …). At each step Run
// measures, over a window after a warm-up, slabcast's CPU time from
// /proc/PID/stat against the bytes the clients received, and whether any
// client fell behind: received less than the stream's input over the
// window by more than Config.Lag of media, lost its connection, or made
// slabcast's slabcast_mpegts_lagged_total rise (a reader overtaken by the
// slab ring jumps to the live edge).
//
// Run sends multicast (the feeder), so it must run in a private network
// namespace whose lo carries 224.0.0.0/4 (internal/testnet); it refuses
// otherwise. Library code without a main: `go test ./bench/...` runs it
// tiny and cmd/slabbench full size. One Run at a time per process: it pins
// every thread of the process to the client cores while it runs.
package fanout

import (
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// ErrMissingTool is returned (wrapped) when ffmpeg or taskset is missing:
// tests skip on it.
var ErrMissingTool = daemon.ErrMissingTool

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root    string  // module root: slabcast is built from it unless Bin is set
	Bin     string  // a prebuilt slabcast binary
	Bitrate float64 // bit/s of the channel's clip
	Steps   []int   // client counts, ascending
	// Warm is the time after the clients of a step are connected before
	// the window opens; Window the measurement.
	Warm, Window time.Duration
	// Lag is how much media a client may lag the input by over the window
	// before it counts as fallen behind.
	Lag time.Duration
	// ServerCPUs is slabcast's taskset list (and its config's cpus line);
	// ClientCPUs the clients' and the feeder's. Empty: unpinned.
	ServerCPUs, ClientCPUs string
	// KeepGoing measures every step; otherwise Run stops after the first
	// step with a client fallen behind.
	KeepGoing bool
	Group     string // feed group:port
	Logf      func(format string, args ...any)
}

// DefaultConfig is the full-size benchmark: about 100 s, less when a step
// fails early. Connecting clients to a saturated server is slow (each new
// client starts with a burst of the current segment), so the steps end
// where one core of this machine runs out.
func DefaultConfig() Config {
	return Config{
		Bitrate:    10e6,
		Steps:      []int{1, 10, 50, 100, 200, 400, 800, 1600, 3200, 4800},
		Warm:       1500 * time.Millisecond,
		Window:     4 * time.Second,
		Lag:        2 * time.Second,
		ServerCPUs: "1",
		ClientCPUs: "0",
		Group:      "239.9.8.2:5000",
	}
}

// Step is one measured client count.
type Step struct {
	K        int           // clients asked for
	Attached int           // slabcast_mpegts_clients at the window's end
	Window   time.Duration // the measured wall time
	// InputBytes is the stream's input over the window
	// (slabcast_input_bytes_total).
	InputBytes uint64
	// ClientBytes is every client's bytes over the window, summed;
	// MinClient the least one client received.
	ClientBytes, MinClient uint64
	Dead                   int    // clients whose connection ended
	Behind                 int    // clients that fell behind (Dead included)
	Lagged                 uint64 // slabcast_mpegts_lagged_total rise
	// ServerCPU is slabcast's user+system time over the window (its
	// ingest included); ClientCPU this process's (the clients').
	ServerCPU, ClientCPU time.Duration
	// ServerBusy and ClientBusy are the busy time of the pinned cores over
	// the window (/proc/stat), the kernel's TCP work included.
	ServerBusy, ClientBusy time.Duration
}

// OK reports whether no client fell behind.
func (s Step) OK() bool { return s.Behind == 0 && s.Lagged == 0 }

func perSec(d, w time.Duration) float64 {
	if w <= 0 {
		return 0
	}
	return d.Seconds() / w.Seconds()
}

// ServerCores is slabcast's CPU time per second of the window.
func (s Step) ServerCores() float64 { return perSec(s.ServerCPU, s.Window) }

// ClientCores is the clients' CPU time per second of the window.
func (s Step) ClientCores() float64 { return perSec(s.ClientCPU, s.Window) }

// Gbps is the clients' aggregate receive rate in Gbit/s.
func (s Step) Gbps() float64 {
	if s.Window <= 0 {
		return 0
	}
	return float64(s.ClientBytes) * 8 / s.Window.Seconds() / 1e9
}

// InputBps is the stream's input rate in bit/s.
func (s Step) InputBps() float64 {
	if s.Window <= 0 {
		return 0
	}
	return float64(s.InputBytes) * 8 / s.Window.Seconds()
}

// MinShare is the least a client received as a share of the input.
func (s Step) MinShare() float64 {
	if s.InputBytes == 0 {
		return 0
	}
	return float64(s.MinClient) / float64(s.InputBytes)
}

// CoresPerGbps is slabcast's CPU per client-Gbit/s delivered: CPU seconds
// per Gbit. base, slabcast's cores with no client (its ingest), is taken
// off when marginal is true.
func (s Step) CoresPerGbps(base float64, marginal bool) float64 {
	g := s.Gbps()
	if g == 0 {
		return 0
	}
	c := s.ServerCores()
	if marginal {
		c -= base
	}
	return c / g
}

// Report is a whole Run.
type Report struct {
	report.Run
	Config  Config
	GoProcs int  // cores slabcast's Go runtime saw
	Idle    Step // no client: slabcast's ingest alone
	Steps   []Step
}

// Largest returns the largest K with no client fallen behind, and whether
// any step passed.
func (rep *Report) Largest() (int, bool) {
	k, ok := 0, false
	for _, s := range rep.Steps {
		if !s.OK() {
			break
		}
		k, ok = s.K, true
	}
	return k, ok
}
