package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// Counter names one of a stream's counters, the way ts.Indicator names a
// TR 101 290 indicator: Counters says how each is shown (slabcast ctl
// stats, /metrics), so a new counter is a constant and a row, and every
// place that shows counters shows it.
type Counter uint8

const (
	Bytes           Counter = iota // bytes of datagrams received
	Packets                        // TS packets in them with a sync byte
	Datagrams                      // datagrams received
	BadDatagrams                   // datagrams that are not whole TS packets
	FilteredSize                   // datagrams the socket filter refused: not 1..48 whole TS packets
	FilteredSync                   // ... a packet without the sync byte
	FilteredRTP                    // ... a bad RTP header
	KernelDrops                    // datagrams the kernel dropped: receive buffer full
	TSLost                         // TS packets missing by the continuity counters
	RTPLost                        // RTP sequence numbers never seen (gaps)
	RTPReordered                   // RTP packets put back in order
	RTPDuplicates                  // second copies of RTP packets
	RTPLate                        // RTP packets that came after their gap was given up on
	Dropped                        // packets not stored for lack of slab memory
	Segments                       // segments completed
	ForcedCuts                     // segments cut without a keyframe
	Discontinuities                // segments flagged EXT-X-DISCONTINUITY
	Switches                       // failovers between inputs
	ErrConnect                     // pull inputs (tshttp://): no connection or no answer
	ErrStatus                      // ... an answer other than 200
	ErrRead                        // ... the body failed, stalled or ended
	ErrNotTS                       // ... a body that is not MPEG-TS
	Skipped                        // bytes of a byte-stream input that started no packet
	Publishes                      // publishing sessions accepted (live streams)
	KeyErrors                      // drm: key server requests that gave no key
	Withheld                       // drm: segments not published for want of their key
	NumCounters
)

// CounterInfo says how a counter is shown.
type CounterInfo struct {
	// Name is the counter's key in slabcast ctl stats ("bytes_in"); for a
	// counter of a Group, its key within the group's object ("size").
	Name  string
	Group string // "filtered": one reason of a family
	// Label is the counter in slabcast ctl stats' listing when it says more
	// than Name with spaces.
	Label  string
	Metric string // the Prometheus family (docs/SPEC.md §6)
	Reason string // the family's reason="…" label, for a Group
	Help   string // the family's HELP text
}

// Counters describes every Counter, in the order they are shown.
var Counters = [NumCounters]CounterInfo{
	Bytes:        {Name: "bytes_in", Metric: "slabcast_input_bytes_total", Help: "Bytes of datagrams received on the stream's input."},
	Packets:      {Name: "packets_in", Metric: "slabcast_input_packets_total", Help: "TS packets received on the stream's input."},
	Datagrams:    {Name: "datagrams_in", Metric: "slabcast_input_datagrams_total", Help: "Datagrams received on the stream's input."},
	BadDatagrams: {Name: "bad_datagrams", Metric: "slabcast_input_bad_datagrams_total", Help: "Datagrams that were not whole TS packets (cut short, or not TS at all)."},
	FilteredSize: {Name: "size", Group: "filtered", Metric: "slabcast_input_filtered_total", Reason: "bad_size", Help: filteredHelp},
	FilteredSync: {Name: "sync", Group: "filtered", Metric: "slabcast_input_filtered_total", Reason: "bad_sync", Help: filteredHelp},
	FilteredRTP:  {Name: "rtp", Group: "filtered", Metric: "slabcast_input_filtered_total", Reason: "bad_rtp", Help: filteredHelp},
	KernelDrops:  {Name: "kernel_drops", Metric: "slabcast_input_kernel_drops_total", Help: "Datagrams the kernel dropped because the socket's receive buffer was full (SO_RXQ_OVFL)."},
	TSLost:       {Name: "ts_lost", Metric: "slabcast_input_ts_lost_total", Help: "TS packets missing from the input by the continuity counters."},
	RTPLost:      {Name: "rtp_lost", Metric: "slabcast_input_rtp_lost_total", Help: "RTP sequence numbers that never arrived (gaps), on rtp:// inputs."},
	RTPReordered: {Name: "rtp_reordered", Metric: "slabcast_input_rtp_reordered_total", Help: "RTP packets that arrived out of order and were put back in order."},
	RTPDuplicates: {Name: "rtp_duplicates", Metric: "slabcast_input_rtp_duplicates_total",
		Help: "RTP packets received twice (the second copy is dropped)."},
	RTPLate: {Name: "rtp_late", Metric: "slabcast_input_rtp_late_total",
		Help: "RTP packets that arrived after their gap had been given up (dropped; already counted lost)."},
	Dropped:  {Name: "dropped", Label: "dropped (no memory)", Metric: "slabcast_dropped_packets_total", Help: "TS packets not stored for lack of slab memory."},
	Segments: {Name: "segments", Metric: "slabcast_segments_total", Help: "HLS segments completed."},
	ForcedCuts: {Name: "forced_cuts", Metric: "slabcast_segments_forced_total",
		Help: "Segments cut without a keyframe because none was recognised within 3 segment durations."},
	Discontinuities: {Name: "discontinuities", Metric: "slabcast_discontinuities_total",
		Help: "Segments flagged EXT-X-DISCONTINUITY (source restart, timestamp jump, new program layout)."},
	Switches:   {Name: "switches", Metric: "slabcast_input_switches_total", Help: "Failovers between a stream's inputs."},
	ErrConnect: {Name: "connect", Group: "errors", Metric: "slabcast_input_errors_total", Reason: "connect", Help: errorsHelp},
	ErrStatus:  {Name: "status", Group: "errors", Metric: "slabcast_input_errors_total", Reason: "status", Help: errorsHelp},
	ErrRead:    {Name: "read", Group: "errors", Metric: "slabcast_input_errors_total", Reason: "read", Help: errorsHelp},
	ErrNotTS:   {Name: "not_ts", Group: "errors", Metric: "slabcast_input_errors_total", Reason: "not_ts", Help: errorsHelp},
	Skipped: {Name: "skipped_bytes", Metric: "slabcast_input_skipped_bytes_total",
		Help: "Bytes of a byte-stream input (tshttp://, a publisher) thrown away because no TS packet started there: a start mid-packet, or garbage."},
	Publishes: {Name: "publishes", Metric: "slabcast_publish_sessions_total", Help: "Publishing sessions a live stream accepted."},
	KeyErrors: {Name: "key_errors", Metric: "slabcast_drm_key_errors_total",
		Help: "Requests to a drm stream's key server that gave no key (no answer, a status other than 200, a body that is not 16 bytes); retried."},
	Withheld: {Name: "withheld_segments", Metric: "slabcast_drm_segments_withheld_total",
		Help: "Segments of a drm stream not published because their key could not be had: never served in the clear."},
}

const errorsHelp = "Failures of a pull input (tshttp://, http://), by reason: connect (no connection or no answer), status (an answer other than 200), read (the body failed, stalled for source_timeout, or ended), not_ts (not MPEG-TS); each is retried with backoff."

const filteredHelp = "Datagrams the input socket filter refused, by reason."

// String is the counter's key, with its group: "bytes_in", "filtered.size".
func (c Counter) String() string {
	if c >= NumCounters {
		return "unknown"
	}
	if g := Counters[c].Group; g != "" {
		return g + "." + Counters[c].Name
	}
	return Counters[c].Name
}

// counters are a stream's counters as the worker writes them and readers
// load them.
type counters struct {
	n        [NumCounters]atomic.Uint64
	ts       [ts.NumIndicators]atomic.Uint64
	lastData atomic.Int64 // unix ns
	bitrate  atomic.Uint64
}

func (c *counters) add(k Counter, n uint64) { c.n[k].Add(n) }

// Stats are a stream's counters since it started; counters only grow.
type Stats struct {
	Count    [NumCounters]uint64      // indexed by Counter
	TS       [ts.NumIndicators]uint64 // ETSI TR 101 290 indicators, indexed by ts.Indicator
	Up       bool                     // data arrived within source_timeout
	Running  bool                     // inputs open (an ondemand stream waiting for a client is not)
	LastData time.Time
	Bitrate  uint64 // input bits a second, over the last second or so
}

// Stats returns a copy of the stream's counters.
func (s *Stream) Stats() Stats {
	var st Stats
	for i := range st.Count {
		st.Count[i] = s.c.n[i].Load()
	}
	for i := range st.TS {
		st.TS[i] = s.c.ts[i].Load()
	}
	st.Up = s.up.Load()
	st.Running = s.running()
	st.Bitrate = s.c.bitrate.Load()
	if ns := s.c.lastData.Load(); ns != 0 {
		st.LastData = time.Unix(0, ns)
	}
	return st
}
