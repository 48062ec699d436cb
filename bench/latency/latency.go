// Package latency is the fifth benchmark of slabcast's suite (issue 5, item
// 5): how long a datagram takes to become visible to viewers.
//
//   - Playlist latency: from the arrival of the datagram that completes a
//     segment (the one carrying the first packet of the next keyframe's PES,
//     where slabcast cuts) to the first HTTP answer for /NAME/index.m3u8 that
//     lists the segment;
//   - MPEG-TS latency: from the arrival of a datagram to its bytes reaching
//     a client of /NAME/mpegts, against the floor of a bare relay
//     (udpxy-like: one thread that writes each datagram to the TCP
//     connection as it arrives).
//
// The daemon under test is the built slabcast binary, run as operators run
// it with a generated config, confined to one core with taskset. Everything
// else is in the benchmark process on the other core, so that one monotonic
// clock times both ends: a sender that paces a looped clip by its PCR, one
// datagram a send(2), and stamps every datagram just before sending it; a
// poller that asks for the playlist every PollInterval on a keep-alive
// connection; and a client that reads /mpegts with blocking reads. Each
// observer runs on an OS thread of its own with blocking system calls, so
// the Go scheduler adds nothing to what is measured.
//
// Bytes on /mpegts are matched to datagrams by content, not counted: the
// last packet of each datagram on an elementary PID of the program (which
// slabcast forwards unchanged) is that datagram's marker, and the time the
// client reads a packet with the same bytes is compared with the datagram's
// send time. Markers whose bytes were sent more than once in a run (CBR
// filler packets repeat every 16 continuity counts) are dropped rather than
// guessed; the PAT and PMT slabcast repeats at each segment start are never
// markers, so nothing depends on byte counts.
//
// Run sends multicast, so it must run in a private network namespace whose
// lo carries 224.0.0.0/4 (see internal/testnet); it refuses otherwise. One
// Run at a time per process: it pins threads and raises GOMAXPROCS.
package latency

import (
	"errors"
	"slices"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// Goal is issue 5's target for both latencies at the 99th percentile.
const Goal = 5 * time.Millisecond

// ErrUnsupported is returned by Run on systems other than Linux.
var ErrUnsupported = errors.New("latency: needs Linux")

// Clip is one input the benchmark sends: either an MPEG-TS file as it is
// (Path), or one made with ffmpeg at Kbps (testsrc2 1280×720, 24 fps,
// H.264 CBR with a keyframe every GOP frames, AAC audio).
type Clip struct {
	Name string // label for tables, e.g. "4 Mbit/s"
	Path string // a file to use as is; "" makes one with ffmpeg
	Kbps int    // video bitrate asked of the encoder when Path is ""
	// Background is how many other channels of BackgroundMbps the daemon
	// takes in while this clip is measured, on the clip's port (so they
	// share its socket and its worker): the latency of one channel among
	// many.
	Background int
}

// BackgroundMbps is the rate of each background channel.
const BackgroundMbps = 4

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	ModuleRoot string // the repository, to build cmd/slabcast when Binary is ""
	Binary     string // a built slabcast; "" builds one into a temporary directory
	Clips      []Clip
	ClipDir    string // where made clips are cached; "" means a directory under os.TempDir
	// GOP is the keyframe interval of made clips in frames at 24 fps;
	// SegmentDuration should equal GOP/24 s so that every keyframe cuts a
	// segment and every GOP gives one playlist sample.
	GOP             int
	SegmentDuration time.Duration
	SenderCPU       int           // sender and observers
	DaemonCPU       int           // slabcast (taskset) and the bare relay
	Warmup          time.Duration // sending before samples count (the client's first burst passes)
	Window          time.Duration // measured sending time per clip against slabcast
	RelayWindow     time.Duration // measured sending time per clip against the bare relay
	PollInterval    time.Duration // pause between playlist requests
	Group           string        // first multicast group:port; each clip and the relay take the next address
	DaemonEnv       []string      // extra environment for the daemon (GODEBUG=…), for experiments
	DaemonConfig    string        // extra global config lines (`multicast_ring on;`)
	KeepLog         string        // copy the daemon's log here at the end; "" does not
	Logf            func(format string, args ...any)
}

// DefaultConfig is the full-size benchmark: about two minutes.
func DefaultConfig() Config {
	return Config{
		ModuleRoot: ".",
		Clips: []Clip{
			{Name: "4 Mbit/s", Kbps: 4000},
			{Name: "15 Mbit/s", Kbps: 15000},
			{Name: "4 Mbit/s among 200 channels", Kbps: 4000, Background: 200},
		},
		GOP:             12,
		SegmentDuration: 500 * time.Millisecond,
		SenderCPU:       0,
		DaemonCPU:       1,
		Warmup:          2 * time.Second,
		Window:          25 * time.Second,
		RelayWindow:     8 * time.Second,
		PollInterval:    500 * time.Microsecond,
		Group:           "239.9.9.20:5000",
	}
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

// Result is what one clip measured.
type Result struct {
	Clip      Clip
	Bitrate   float64 // bit/s of the clip as sent
	Datagrams uint64  // datagrams sent in the measured window against slabcast

	Playlist Dist // (a) keyframe datagram sent → first playlist answer listing the segment
	MPEGTS   Dist // (b) datagram sent → its marker packet read from /mpegts
	Relay    Dist // (b) against the bare relay

	// Checks on the attribution of segments to keyframes: Consistent
	// counts samples whose EXTINF equals the PTS distance between the
	// keyframe that ended the segment and the previous one; Ambiguous
	// counts keyframes claimed by two segments (should be none).
	Consistent, Ambiguous int
	// BackgroundSent is the datagrams the background channels sent while
	// the clip was measured against slabcast, at BackgroundGbps.
	BackgroundSent uint64
	BackgroundGbps float64
	// SendLate is the most the sender sent a datagram after its PCR said
	// (its sleeps overshooting, other work on its core), in slabcast's phase.
	SendLate time.Duration
	// Markers sent in the window and never read by the client.
	MissingMPEGTS, MissingRelay int

	// The poller's resolution: time between the starts of successive
	// playlist requests, and one request's round trip.
	PollPeriod, PollRTT Dist
	Polls               int
}

// Report is a whole Run.
type Report struct {
	report.Run
	Config  Config
	Results []Result
}
