// Package edge is the edge-cache benchmark of slabcast's suite (issue 13,
// "Beyond one box"): HLS viewers served by slabcast directly against the
// same viewers served through one nginx edge cache in front of it, with
// the edge config operators deploy (deploy/nginx/slabcast-edge.conf, its
// EDIT values rewritten), and the request rate the origin sees behind the
// edge.
//
// One slabcast (the real binary, bench/internal/daemon) takes one
// multicast channel (`slabcast feed --loop` of an ffmpeg clip). Simulated
// viewers in the benchmark's process act like players: each polls the
// playlist once a segment duration, their phases spread over it, and
// fetches every segment new since its last poll, reading the whole body.
// For each viewer count the same viewers run against slabcast directly and
// through nginx, in alternating order, each for a warm-up (not counted)
// and a measured window. A window reports the offered load (viewers and
// the request rate they would make if every answer were instant), what
// was delivered (requests/s, Gbit/s, fetch latency, polls that overran
// their segment duration), the CPU of slabcast and of nginx, the busy
// time of the server core and of the load core, and which one was full.
// Through the edge it also counts the origin's requests by kind, from
// nginx's access log ($upstream_addr set: the edge asked the origin) and
// from slabcast's own slabcast_http_requests_total, per new segment the
// origin cut: with the edge's cache lock that is one segment request per
// new segment and a playlist refresh about every two seconds, whatever
// the number of viewers.
//
// Run sends multicast (the feeder), so it must run in a private network
// namespace whose lo carries 224.0.0.0/4 (internal/testnet); it refuses
// otherwise. `go test ./bench/edge` runs it tiny, cmd/slabbench full size.
package edge

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// Path is how viewers reach the stream.
type Path uint8

// The paths, alternated for each viewer count.
const (
	Direct Path = iota // viewers ask slabcast
	Edge               // viewers ask nginx, nginx asks slabcast
)

func (p Path) String() string {
	if p == Edge {
		return "edge"
	}
	return "direct"
}

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root     string  // module root: slabcast is built from it unless Bin is set
	Bin      string  // a prebuilt slabcast binary
	EdgeConf string  // the edge config; "": Root's deploy/nginx/slabcast-edge.conf
	Bitrate  float64 // bit/s of the clip the channel takes
	// SegmentDuration (s) and SegmentCount are the stream's.
	SegmentDuration, SegmentCount int
	Viewers                       []int         // viewer counts, each run direct and through the edge
	Window                        time.Duration // measured time of each case
	// Warmup runs before each window, not counted: the viewers start,
	// spread over a segment duration, and the edge fills its cache. 0:
	// two segment durations.
	Warmup time.Duration
	// ServerCPUs is the taskset list of slabcast and nginx, LoadCPUs that
	// of the feeder and the benchmark's own threads (the viewers); empty:
	// unpinned. Workers is nginx's worker_processes (0: the cores of
	// ServerCPUs).
	ServerCPUs, LoadCPUs string
	Workers              int
	Group                string // the feed's group:port
	Logf                 func(format string, args ...any)
}

// DefaultConfig is the full-size benchmark: about four and a half minutes.
func DefaultConfig() Config {
	return Config{
		Bitrate:         4e6,
		SegmentDuration: 2,
		SegmentCount:    6,
		Viewers:         []int{50, 200, 800, 2000},
		Window:          20 * time.Second,
		ServerCPUs:      "1",
		LoadCPUs:        "0",
		Group:           "239.9.14.1:5000",
	}
}

// warmup is Warmup, or its default.
func (cfg Config) warmup() time.Duration {
	if cfg.Warmup > 0 {
		return cfg.Warmup
	}
	return 2 * time.Duration(cfg.SegmentDuration) * time.Second
}

// Offered is the request rate n viewers make if every answer is instant:
// a playlist and a segment every segment duration each.
func Offered(n, segDur int) float64 { return 2 * float64(n) / float64(segDur) }

// Viewed is what the viewers did over a window.
type Viewed struct {
	Polls, Segments int   // playlist and segment requests answered 200
	Bytes           int64 // bodies received, both kinds
	Late            int   // polls that began later than their turn: the viewer was still fetching
	Errors          int
	FirstError      string
	Latency         []time.Duration // each segment request, from asking to its last byte
}

// sub is v less w, counters only; Latency is v's from w's length on.
func (v Viewed) sub(w Viewed) Viewed {
	d := Viewed{Polls: v.Polls - w.Polls, Segments: v.Segments - w.Segments, Bytes: v.Bytes - w.Bytes,
		Late: v.Late - w.Late, Errors: v.Errors - w.Errors, FirstError: v.FirstError}
	if len(v.Latency) > len(w.Latency) {
		d.Latency = v.Latency[len(w.Latency):]
	}
	return d
}

// Origin is what the origin was asked over a window.
type Origin struct {
	// NewSegments is slabcast_segments_total's rise: segments cut.
	NewSegments int
	// Requests is slabcast_http_requests_total's rise less the benchmark's
	// own /metrics scrapes.
	Requests int
	// From the edge's access log (edge windows only): requests the edge
	// passed to the origin, by kind.
	Playlists, Segments, Other int
	// Distinct is the media URLs among Segments, each counted once.
	Distinct int
	// Cache counts the edge's answers to viewers by $upstream_cache_status.
	Cache map[string]int
}

// Measure is one window: a viewer count on one path.
type Measure struct {
	Path    Path
	Viewers int
	Wall    time.Duration
	Viewed  Viewed
	Origin  Origin
	// SlabcastCPU and NginxCPU are user+system time over the window
	// (/proc); ServerBusy and LoadBusy the busy time of the server's and
	// the load's cores (/proc/stat), 0 when not pinned.
	SlabcastCPU, NginxCPU time.Duration
	ServerBusy, LoadBusy  time.Duration
}

// RPS is the viewers' answered requests a second.
func (m Measure) RPS() float64 { return perSecond(float64(m.Viewed.Polls+m.Viewed.Segments), m.Wall) }

// Gbps is the viewers' received bodies, Gbit/s.
func (m Measure) Gbps() float64 { return perSecond(float64(m.Viewed.Bytes)*8/1e9, m.Wall) }

// Cores returns slabcast's and nginx's CPU time a second.
func (m Measure) Cores() (slabcast, nginx float64) {
	return perSecond(m.SlabcastCPU.Seconds(), m.Wall), perSecond(m.NginxCPU.Seconds(), m.Wall)
}

// Busy returns the server's and the load's core busy time a second, per
// core.
func (m Measure) Busy(serverCores, loadCores int) (server, load float64) {
	return proc.Share(m.ServerBusy, m.Wall, serverCores), proc.Share(m.LoadBusy, m.Wall, loadCores)
}

// Full is the share of a core taken as full.
const Full = proc.Full

// Bound says what limited a window: "load generator" when the viewers'
// core was full, "server" when the server's core was, "both", or "–" when
// neither (the viewers got what they asked for, or a core not pinned).
func (m Measure) Bound(serverCores, loadCores int) string {
	s, l := m.Busy(serverCores, loadCores)
	switch {
	case s >= Full && l >= Full:
		return "both"
	case l >= Full:
		return "load generator"
	case s >= Full:
		return "server"
	}
	return "–"
}

// KeptUp reports whether the viewers got every segment in time: no poll
// overran its turn and nothing failed.
func (m Measure) KeptUp() bool { return m.Viewed.Late == 0 && m.Viewed.Errors == 0 }

// PerDistinct is the edge's media requests to the origin per distinct
// media URL among them: 1 when every segment was asked of the origin once,
// however many viewers wanted it; 0 without any.
func (m Measure) PerDistinct() float64 {
	if m.Origin.Distinct == 0 {
		return 0
	}
	return float64(m.Origin.Segments) / float64(m.Origin.Distinct)
}

// PerSegment is the origin's requests of the edge's log per new segment
// cut (kind: "segments", "playlists" or "all"); 0 without a new segment.
func (m Measure) PerSegment(kind string) float64 {
	if m.Origin.NewSegments <= 0 {
		return 0
	}
	n := m.Origin.Playlists + m.Origin.Segments + m.Origin.Other
	switch kind {
	case "segments":
		n = m.Origin.Segments
	case "playlists":
		n = m.Origin.Playlists
	}
	return float64(n) / float64(m.Origin.NewSegments)
}

// Report is a whole Run.
type Report struct {
	report.Run
	Nginx    string
	Config   Config
	Input    float64 // the stream's input bit/s (slabcast's metric)
	Workers  int     // nginx worker_processes
	Measures []Measure
	// Cache is where the edge kept its cache.
	Cache string
}

// Of returns the measure of path p with n viewers, nil if none.
func (rep *Report) Of(p Path, n int) *Measure {
	for i := range rep.Measures {
		if rep.Measures[i].Path == p && rep.Measures[i].Viewers == n {
			return &rep.Measures[i]
		}
	}
	return nil
}

// ErrMissingTool is returned (wrapped) when nginx, ffmpeg or go is not
// installed: tests skip on it.
var ErrMissingTool = daemon.ErrMissingTool

func perSecond(x float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return x / d.Seconds()
}

// quantile is the q quantile of ds (nearest rank); 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e6) }
