// Package delivery is the third benchmark of slabcast's suite (issue 5,
// item 3): HLS delivery. slabcast runs as a child process (the real binary,
// bench/internal/daemon) with live streams fed over multicast at a realistic
// bitrate; once each playlist is full, its playlist and segments are
// downloaded and written with the same URL layout into a tmpfs directory
// (/dev/shm) that nginx serves with sendfile. wrk then loads both servers
// with the same request mix, one after the other, from its own core while
// the servers share the other: segments only, one playlist per segment,
// and playlists only. Each case takes a fresh snapshot first, so the bytes
// nginx serves are the bytes slabcast serves and every segment wrk asks
// slabcast for is still live (a segment stays fetchable for its duration
// plus the playlist's after it leaves the playlist).
//
// Run sends multicast (the feeders), so it must run in a private network
// namespace whose lo carries 224.0.0.0/4 (internal/testnet); it refuses
// otherwise. Library code without a main: `go test ./bench/...` runs it
// tiny and cmd/slabbench full size. One Run at a time.
package delivery

import (
	"fmt"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

// Goal is issue 5's target: slabcast at least this many times nginx's
// requests/s and Gbit/s.
const Goal = 1.0

// Case is a request mix.
type Case uint8

// The cases, in the order Run measures them by default.
const (
	Segments Case = iota // segment URLs only
	Mixed                // one playlist per Config.Mix segments
	Playlist             // the playlists only
)

// ParseCase reads a case by its short name: segments, mixed, playlists.
func ParseCase(s string) (Case, error) {
	switch s {
	case "segments":
		return Segments, nil
	case "mixed":
		return Mixed, nil
	case "playlists":
		return Playlist, nil
	}
	return 0, fmt.Errorf("delivery: unknown case %q (segments, mixed, playlists)", s)
}

// String names the case for tables.
func (c Case) String() string {
	switch c {
	case Segments:
		return "segments"
	case Mixed:
		return "playlist + segments"
	case Playlist:
		return "playlists"
	}
	return "unknown"
}

// Server is a server under test.
type Server uint8

// The servers, in the order each case measures them: slabcast first, while
// its snapshot's segments are freshest.
const (
	Slabcast Server = iota
	Nginx
)

// String names the server for tables.
func (s Server) String() string {
	if s == Slabcast {
		return "slabcast"
	}
	return "nginx"
}

// Config sets up a Run. Start from DefaultConfig.
type Config struct {
	Root    string  // module root: slabcast is built from it unless Bin is set
	Bin     string  // a prebuilt slabcast binary
	Bitrate float64 // bit/s of each stream's clip (ffmpeg, clip.Feed)
	Streams int     // streams fed side by side
	// SegmentDuration (s) and SegmentCount are the streams' config; Run
	// waits until each playlist lists SegmentCount segments.
	SegmentDuration, SegmentCount int
	Duration                      time.Duration // one wrk run
	Connections, Threads          int           // wrk -c, -t
	// ServerCPUs is the taskset list of both servers, LoadCPUs wrk's and
	// the feeders'; empty: unpinned. Workers is nginx's worker_processes
	// (0: the number of cores in ServerCPUs, else of the machine).
	ServerCPUs, LoadCPUs string
	Workers              int
	Mix                  int // segments per playlist in the Mixed case
	Cases                []Case
	Group                string // first feed group; stream i uses port+i
	// Env is added to slabcast's environment (GOMAXPROCS=2, GOGC=…) for
	// experiments; the results file says so.
	Env  []string
	Logf func(format string, args ...any)
}

// DefaultConfig is the full-size benchmark: about 70 s.
func DefaultConfig() Config {
	return Config{
		Bitrate:         4e6,
		Streams:         1,
		SegmentDuration: 2,
		SegmentCount:    6,
		Duration:        8 * time.Second,
		Connections:     64,
		Threads:         1,
		ServerCPUs:      "1",
		LoadCPUs:        "0",
		Mix:             1,
		Cases:           []Case{Segments, Mixed, Playlist},
		Group:           "239.9.8.1:5000",
	}
}

// Measure is one wrk run against one server.
type Measure struct {
	Server Server
	Load   Load
	// CPU is the server's user+system time over the run (slabcast's
	// process, its ingest included; nginx's master and workers).
	CPU time.Duration
	// Wall is the time the CPU figure covers.
	Wall time.Duration
	// ServerBusy and LoadBusy are the busy time of the servers' cores and
	// of wrk's over Wall (/proc/stat: every process there and the kernel's
	// TCP work); 0 when not pinned.
	ServerBusy, LoadBusy time.Duration
}

// Busy returns ServerBusy and LoadBusy per second of the run, per core.
func (m Measure) Busy(serverCores, loadCores int) (server, load float64) {
	return proc.Share(m.ServerBusy, m.Wall, serverCores), proc.Share(m.LoadBusy, m.Wall, loadCores)
}

// Cores is the server's CPU time per second of the run.
func (m Measure) Cores() float64 {
	if m.Wall <= 0 {
		return 0
	}
	return m.CPU.Seconds() / m.Wall.Seconds()
}

// Result is one case: both servers on the same snapshot.
type Result struct {
	Case     Case
	Paths    []string // the URL paths wrk rotated over, in order
	SegBytes int64    // bytes of the snapshot's segments, all streams
	Segs     int      // segments in the snapshot
	PlBytes  int64    // bytes of the snapshot's playlists
	// Body is the mean body size of one turn of Paths: what a response
	// carries beyond its header.
	Body     float64
	Measures []Measure
}

// Measure returns the measure of s, nil if none.
func (r *Result) Measure(s Server) *Measure {
	for i := range r.Measures {
		if r.Measures[i].Server == s {
			return &r.Measures[i]
		}
	}
	return nil
}

// Header is the mean header size of m's responses: bytes per response
// less the mean body.
func (r *Result) Header(m *Measure) float64 {
	if m.Load.Requests == 0 {
		return 0
	}
	return float64(m.Load.Bytes)/float64(m.Load.Requests) - r.Body
}

// Ratios returns slabcast's requests/s and Gbit/s as multiples of
// nginx's; ok is false without both.
func (r *Result) Ratios() (rps, gbps float64, ok bool) {
	s, n := r.Measure(Slabcast), r.Measure(Nginx)
	if s == nil || n == nil || n.Load.RPS() == 0 || n.Load.Gbps() == 0 {
		return 0, 0, false
	}
	return s.Load.RPS() / n.Load.RPS(), s.Load.Gbps() / n.Load.Gbps(), true
}

// Report is a whole Run.
type Report struct {
	report.Run
	Nginx   string // nginx -v
	Wrk     string // wrk -v, first line
	Config  Config
	Workers int     // nginx worker_processes used
	GoProcs int     // cores slabcast's Go runtime saw (GOMAXPROCS)
	Input   float64 // measured input bit/s of one stream (slabcast's metric)
	Results []Result
}

// ErrMissingTool is returned (wrapped) when nginx, wrk or ffmpeg is not
// installed: tests skip on it.
var ErrMissingTool = daemon.ErrMissingTool
