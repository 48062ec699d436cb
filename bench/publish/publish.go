// Package publish is the benchmark of published streams (issue "Live
// streams and every common source"): the CPU a published RTMP stream
// costs slabcast, against `ffmpeg -listen 1 -i rtmp://… -c copy -f hls`
// (the do-it-yourself RTMP-to-HLS server, one process per stream) and
// against slabcast's own UDP path carrying the same streams.
//
// For each N, N publishers (`ffmpeg -re -stream_loop -1 -i CLIP -c copy
// -f flv rtmp://…`, all pinned to the sender core) publish a
// constant-bitrate clip; the headend runs on the other core (slabcast as
// one daemon with `cpus 1;` under `taskset -c 1`; the ffmpeg baseline as N
// processes under `taskset -c 1`, each listening on a port of its own).
// Once every stream is up, the headend's CPU (utime+stime) is read over a
// window. The UDP row feeds the same clip to the same daemon over
// loopback UDP (`slabcast feed --loop`), so the difference is what RTMP,
// the muxer and the publish path cost over a datagram path.
//
// Nothing here is safe for concurrent use: one Run at a time per process.
package publish

import (
	"errors"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("publish: needs Linux")

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root         string // module root: slabcast is built from it
	Binary       string // a prebuilt slabcast; "" builds one from Root
	ClipDir      string // the clip is cached here (see clip.Channel)
	FallbackClip string // used when ffmpeg cannot make the clip
	Mbps         float64
	Ns           []int // publisher counts, one point each
	SenderCPU    int
	ReceiverCPU  int
	Window       time.Duration // CPU is measured over this, once every stream is up
	FFmpeg       bool          // measure the ffmpeg baseline
	Logf         func(format string, args ...any)
}

// DefaultConfig is the full-size benchmark, a few minutes.
func DefaultConfig() Config {
	return Config{
		ClipDir:     "/tmp/slabcast-bench-clips",
		Mbps:        4,
		Ns:          []int{10, 40},
		SenderCPU:   0,
		ReceiverCPU: 1,
		Window:      10 * time.Second,
		FFmpeg:      true,
	}
}

// System names the headends measured.
const (
	SlabcastRTMP = "slabcast, RTMP"
	FFmpegRTMP   = "ffmpeg -f hls, RTMP"
	SlabcastUDP  = "slabcast, UDP"
)

// Point is one headend at one N.
type Point struct {
	System string
	N      int
	CPU    time.Duration // the headend's CPU time over Window
	Window time.Duration
	// BytesIn is what the headend took in over the window (slabcast's
	// slabcast_input_bytes_total; for ffmpeg, what the publishers sent,
	// from their own progress), Expected what N clips at their rate
	// bring in as long.
	BytesIn, Expected float64
	Up                int    // streams that took data in over the window (ffmpeg: began a segment)
	Note              string // why a point is short, if it is
}

// PerStream is the share of one core a stream costs, in percent.
func (p Point) PerStream() float64 {
	if p.N == 0 || p.Window <= 0 {
		return 0
	}
	return 100 * p.CPU.Seconds() / p.Window.Seconds() / float64(p.N)
}

// Offered is the load the publishers offered, in Mbit/s.
func (p Point) Offered() float64 {
	if p.Window <= 0 {
		return 0
	}
	return p.BytesIn * 8 / p.Window.Seconds() / 1e6
}

// Report is a whole Run.
type Report struct {
	report.Run
	Config Config
	Rate   float64 // the clip's real rate, bit/s
	Points []Point
}

// Find returns the point of system at n.
func (r *Report) Find(system string, n int) (Point, bool) {
	for _, p := range r.Points {
		if p.System == system && p.N == n {
			return p, true
		}
	}
	return Point{}, false
}
