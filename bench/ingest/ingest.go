// Package ingest is the first benchmark of slabcast's suite (issue 5, item
// 1): the ingest ceiling on one core. A flood sender pinned to one core
// sends valid MPEG-TS, seven packets to a datagram, to a multicast group on
// lo with sendmmsg; receivers pinned to another core read it one after
// another on the same socket setup:
//
//   - Bare: a recvmmsg loop that only counts and discards (nic.Listen,
//     nic.Poller, Conn.ReadBatch 64 datagrams a call): the machine's limit;
//   - Filter: slabcast's receive path, a one-core pipeline with one stream
//     (eBPF socket filter, recvmmsg, TS parse, TR 101 290 health, splice
//     into slabs, segment cuts at keyframes);
//   - NoFilter: the same with no socket filter attached.
//
// For each receiver Run measures the rate received when the sender runs flat
// out (saturation), then paced rates stepped up until loss, and reports the
// highest rate with zero loss. Loss is exact: datagrams sent (sendmmsg's
// count) against datagrams received (the receiver's own count), with the
// socket's kernel drop count beside it.
//
// Run sends multicast, so it must run in a private network namespace whose
// lo carries 224.0.0.0/4 (see internal/testnet); it refuses otherwise. The
// package is library code without a main so
// that `go test ./bench/...` runs it in a tiny configuration and
// cmd/slabbench runs it full size.
//
// Nothing here is safe for concurrent use: one Run at a time per process
// (it pins threads and sets GOMAXPROCS).
package ingest

import (
	"errors"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/pipeline"
)

// DatagramSize is the UDP payload of one datagram in bytes.
const DatagramSize = feed.DatagramSize

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("ingest: needs Linux")

// Receiver is a receive path under test.
type Receiver uint8

// The receivers, in the order Run measures them by default.
const (
	Bare     Receiver = iota // recvmmsg loop that only discards
	Filter                   // slabcast's pipeline with the socket filter
	NoFilter                 // slabcast's pipeline without it
)

// String names the receiver for tables.
func (r Receiver) String() string {
	switch r {
	case Bare:
		return "bare recvmmsg loop"
	case Filter:
		return "slabcast, filter on"
	case NoFilter:
		return "slabcast, filter off"
	}
	return "unknown"
}

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Clip        string        // MPEG-TS file to loop (testdata/h264_aac.ts)
	Group       string        // multicast group:port on lo
	SenderCPU   int           // core of the flood sender
	ReceiverCPU int           // core of every receiver
	Point       time.Duration // sending time of one measured rate
	// Steps are the paced rates tried, ascending, as fractions of the first
	// receiver's saturation rate; a receiver stops at its first loss.
	Steps []float64
	// Refine is the number of bisections between the last rate without
	// loss and the first with loss.
	Refine int
	// Steer moves the kernel's receive half (IP, UDP, socket filter,
	// queueing) onto the receiver's core with receive packet steering on
	// lo, so the whole receive path is on one core; without it, lo runs it
	// in the sender's system call on the sender's core.
	Steer bool
	// GSO makes the sender pack up to sender.MaxGSO datagrams into each
	// sendmmsg message (UDP GSO), so that flat out it outruns every
	// receiver and saturation measures the receiver, not the sender.
	GSO        bool
	RecvBuffer int   // SO_RCVBUF asked for every receiver's socket
	Memory     int64 // the pipeline's slab pool
	Receivers  []Receiver
	Logf       func(format string, args ...any) // progress; nil discards
}

// DefaultConfig is the full-size benchmark: about 75 s with the default
// Point of 3 s.
func DefaultConfig() Config {
	return Config{
		Clip:        "testdata/h264_aac.ts",
		Group:       "239.9.9.9:5000",
		SenderCPU:   0,
		ReceiverCPU: 1,
		Point:       3 * time.Second,
		Steps:       []float64{0.5, 0.7, 0.8, 0.9, 1.0},
		Refine:      2,
		Steer:       true,
		GSO:         true,
		RecvBuffer:  8 << 20,
		Memory:      256 << 20,
		Receivers:   []Receiver{Bare, Filter, NoFilter},
	}
}

// Point is one measured rate.
type Point struct {
	Target   float64 // datagrams/s asked of the sender; 0: flat out
	Sent     uint64  // datagrams sendmmsg accepted
	Received uint64  // datagrams the receiver counted
	Drops    uint64  // datagrams the kernel dropped, receive queue full
	// BacklogDrops are packets dropped machine-wide because a core's input
	// backlog was full (/proc/net/softnet_stat).
	BacklogDrops uint64
	Elapsed      time.Duration // sending time
	// ThreadCPU is the user+system time of the receiver's pinned thread
	// (/proc/self/task/*/stat), from the start of sending until the queue
	// was drained; CoreBusy is everything the receiver's core did meanwhile
	// (/proc/stat), other processes and interrupts included.
	ThreadCPU, CoreBusy time.Duration
	Wall                time.Duration // the window ThreadCPU and CoreBusy cover
	SendErrors          uint64        // failed sendmmsg calls
}

// Lost is the datagrams sent and not received.
func (p Point) Lost() uint64 {
	if p.Received >= p.Sent {
		return 0
	}
	return p.Sent - p.Received
}

// ZeroLoss reports whether every datagram sent was received.
func (p Point) ZeroLoss() bool { return p.Sent > 0 && p.Received == p.Sent && p.Drops == 0 }

// Offered is the rate sent, datagrams per second.
func (p Point) Offered() float64 { return perSecond(p.Sent, p.Elapsed) }

// Rate is the rate received, datagrams per second.
func (p Point) Rate() float64 { return perSecond(p.Received, p.Elapsed) }

// CPUShare is the receiver thread's CPU time per second of the window: 1.0
// is the core fully busy.
func (p Point) CPUShare() float64 {
	if p.Wall <= 0 {
		return 0
	}
	return p.ThreadCPU.Seconds() / p.Wall.Seconds()
}

// BusyShare is the receiver core's busy time per second of the window.
func (p Point) BusyShare() float64 {
	if p.Wall <= 0 {
		return 0
	}
	return p.CoreBusy.Seconds() / p.Wall.Seconds()
}

// NsPerDatagram is the receiver thread's CPU time per datagram received.
func (p Point) NsPerDatagram() float64 {
	if p.Received == 0 {
		return 0
	}
	return float64(p.ThreadCPU.Nanoseconds()) / float64(p.Received)
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Gbps converts datagrams per second into Gbit/s of UDP payload.
func Gbps(dps float64) float64 { return dps * DatagramSize * 8 / 1e9 }

// Result is what Run measured for one receiver.
type Result struct {
	Receiver   Receiver
	FilterMode string // "ebpf" or "classic" when the filter is on, else ""
	Saturation Point  // the sender flat out
	Points     []Point
	// Best is the highest offered rate received without loss, among the
	// paced points and the saturation point; HaveBest is false when every
	// point lost datagrams.
	Best     Point
	HaveBest bool
	// Stats are the pipeline's counters after the last point (pipeline
	// receivers only, HaveStats).
	Stats     pipeline.Stats
	HaveStats bool
}

// SenderBound reports whether the receiver kept up with the sender flat
// out: then its ceiling is above what this sender can offer.
func (r *Result) SenderBound() bool { return r.Saturation.ZeroLoss() }

// Report is a whole Run.
type Report struct {
	report.Run
	Steered     bool // Config.Steer took effect
	Config      Config
	ClipBitrate float64       // bit/s of the clip's media
	ClipPass    time.Duration // media time of one pass of the clip
	Results     []Result
}

// Result returns the result for r, nil if r was not measured.
func (rep *Report) Result(r Receiver) *Result {
	for i := range rep.Results {
		if rep.Results[i].Receiver == r {
			return &rep.Results[i]
		}
	}
	return nil
}
