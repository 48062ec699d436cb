// Package memory is the sixth benchmark of slabcast's suite (issue 5, item
// 6): resident memory per channel against bitrate × window, and
// allocations per packet.
//
// For a few channel counts N and rates R, one slabcast daemon (`cpus 1;`,
// under `taskset -c 1`) takes N channels of R Mbit/s from a sendmmsg sender
// pinned to the other core (bench/internal/sender) until every stream's
// window is full: segment_duration × the segments a stream retains
// (2 × segment_count + 1: the playlist, and as many again kept fetchable
// after they leave it, RFC 8216 §6.2.2). Then it reads the process's
// resident memory (/proc/PID/status: VmRSS, RssAnon, RssFile, RssShmem)
// and the daemon's own view of its slab pool (/metrics:
// slabcast_pool_bytes, slabcast_pool_free_bytes). The pool is one
// anonymous MAP_POPULATE mapping made at start, resident whole from the
// first moment whether streams use it or not: the report gives its size
// apart, the slab bytes the streams hold per channel against
// bitrate × window, and what the process holds beyond the pool per channel
// (against a run with no stream at all).
//
// Allocations per packet are measured on the running daemon from the Go
// runtime's own count (go_memstats_mallocs_total in /metrics) over a
// window with traffic, against a window of the same length without, and,
// optionally, quoted from the pipeline's AllocsPerRun tests
// (TestIngestAllocations, TestWorkerReadAllocations).
//
// Run sends multicast, so it must run in a private network namespace whose
// lo carries 224.0.0.0/4 (see internal/testnet); it refuses otherwise.
// Nothing here is safe for concurrent use: one Run at a time per process.
package memory

import (
	"errors"
	"time"

	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("memory: needs Linux")

// Case is one configuration measured: N channels of Mbps each (nominal;
// the clip made for it gives the real rate).
type Case struct {
	Mbps float64
	N    int
}

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root         string // module root: slabcast is built from it, the allocation tests run in it
	Binary       string // a prebuilt slabcast; "" builds one from Root
	ClipDir      string // generated clips are cached here (see clip.Channel)
	FallbackClip string // used when ffmpeg cannot make clips
	Cases        []Case
	SenderCPU    int
	ReceiverCPU  int
	// SegmentDuration and SegmentCount set every stream's window; short,
	// so that the window fills within seconds.
	SegmentDuration time.Duration
	SegmentCount    int
	// Idle is the window without traffic; the window with traffic is as
	// long and starts once every stream's window is full.
	Idle time.Duration
	// AllocTests runs the pipeline's allocation tests with go test and
	// quotes them.
	AllocTests bool
	Logf       func(format string, args ...any) // progress; nil discards
}

// DefaultConfig is the full-size benchmark, about a minute and a half.
func DefaultConfig() Config {
	return Config{
		ClipDir:         "/tmp/slabcast-bench-clips",
		Cases:           []Case{{4, 10}, {4, 50}, {15, 10}, {15, 30}},
		SenderCPU:       0,
		ReceiverCPU:     1,
		SegmentDuration: time.Second,
		SegmentCount:    3,
		Idle:            3 * time.Second,
		AllocTests:      true,
	}
}

// Retained is the number of segments a stream holds once its window is
// full: the playlist's segment_count, as many again kept fetchable after
// they leave it, and the one being written.
func Retained(segmentCount int) int { return 2*segmentCount + 1 }

// Window is segment_duration × Retained: the media time a stream holds.
func (c Config) Window() time.Duration {
	return c.SegmentDuration * time.Duration(Retained(c.SegmentCount))
}

// Result is one measured case.
type Result struct {
	Case     Case
	Mbps     float64 // the clip's real rate
	Pool     int64   // slab pool (slabcast_pool_bytes: `memory` in whole chunks), bytes
	PoolFree int64   // slabcast_pool_free_bytes at the end
	// Mem is the process's resident memory after the window filled; Idle
	// right after start, before any traffic.
	Mem, Idle proc.MemStatus
	HeapInuse float64 // go_memstats_heap_inuse_bytes at the end
	Segments  int     // segments cut, all streams, the whole run
	// WindowSegments are the segments cut during the window with traffic.
	WindowSegments int
	Fill           time.Duration
	// Datagrams, Packets are what the streams received over the window
	// with traffic; Mallocs the Go runtime's allocation count over it, and
	// IdleMallocs over the window of the same length without traffic
	// (timers, the /metrics scrapes themselves).
	Datagrams, Packets   uint64
	Mallocs, IdleMallocs uint64
	TrafficWindow        time.Duration
	Lost                 uint64 // datagrams sent and not received, the whole run
	KernelDrops          uint64
}

// Held is the slab bytes the streams hold.
func (r Result) Held() int64 { return r.Pool - r.PoolFree }

// HeldPerChannel is Held over N.
func (r Result) HeldPerChannel() float64 {
	if r.Case.N == 0 {
		return 0
	}
	return float64(r.Held()) / float64(r.Case.N)
}

// Expected is bitrate × window for one channel, bytes.
func (r Result) Expected(window time.Duration) float64 {
	return r.Mbps * 1e6 / 8 * window.Seconds()
}

// BeyondPool is the resident memory not in the slab pool.
func (r Result) BeyondPool() int64 { return r.Mem.VmRSS - r.Pool }

// MallocsPerPacket is the allocations per TS packet received over the
// window with traffic, less those of the same window without traffic.
func (r Result) MallocsPerPacket() float64 {
	if r.Packets == 0 {
		return 0
	}
	return (float64(r.Mallocs) - float64(r.IdleMallocs)) / float64(r.Packets)
}

// MallocsPerSegment is the allocations with traffic, less those without,
// per segment cut in the window.
func (r Result) MallocsPerSegment() float64 {
	if r.WindowSegments == 0 {
		return 0
	}
	return (float64(r.Mallocs) - float64(r.IdleMallocs)) / float64(r.WindowSegments)
}

// Report is a whole Run.
type Report struct {
	report.Run
	Config  Config
	Base    Result // the daemon with no stream
	Results []Result
	// AllocTests is the output of the pipeline's allocation tests, ""
	// when not run; AllocTestsErr says why they failed.
	AllocTests, AllocTestsErr string
}
