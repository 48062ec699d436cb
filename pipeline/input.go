package pipeline

import (
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// reader is an open input as a receive worker polls it: a descriptor that
// polls readable, and a batched read of whole datagrams of TS (or RTP) into
// the worker's batch. A UDP socket (*nic.Conn) is one; the live and pull
// inputs to come (RTMP, SRT, HTTP) are another, handing their TS to the
// worker through a descriptor of their own, so the worker, the failover and
// the segmenter do not change for them.
type reader interface {
	Fd() int
	ReadBatch(b *nic.Batch) (int, error)
	Close() error
}

// input is one of a stream's sources. It is owned by the stream's worker:
// only the worker goroutine touches it.
type input struct {
	s       *Stream
	idx     int
	url     nic.Source
	timeout time.Duration
	conn    reader      // nil until it opens
	filter  *bpf.Filter // nil when none is attached
	tag     int         // the worker's epoll tag
	markers bool        // the classic filter sends refusal markers
	pulled  bool        // a pull input's pipe: an empty datagram marks a new connection
	kind    bpf.Kind
	rtp     *nic.RTPReceiver
	emit    func([]byte) // hands a depacketized RTP payload to the segmenter

	recent int // datagrams read from its own socket since the worker's last tick (see worker.pace)

	// On a socket shared with other groups (shared.go): the socket, this
	// input's group on it, and the datagrams of the group read since the
	// input joined.
	shared     *sharedConn
	ring       *ringConn // or on a ring (ring.go)
	group      [4]byte
	sharedRead uint64
	// A ring's loss count (ringConn.count): the datagrams read when the
	// filter's counts were last taken, and those read since that the ring
	// had taken before then.
	readAtCount, lateRead uint64
	touched               bool      // took datagrams in the shared socket's current read
	lastData              time.Time // last datagram (or when it opened)
	since                 time.Time // start of the current run of data without a timeout-long gap
	drops                 uint64    // kernel drops counted on this socket
	filtered              [3]uint64 // refusals by reason on this socket: size, sync, RTP
	// What earlier sockets of this input counted (ondemand restarts).
	dropsBase    uint64
	filteredBase [3]uint64
}

func (in *input) live(now time.Time) bool { return now.Sub(in.lastData) <= in.timeout }

func (in *input) active() bool { return in.s.active == in.idx }

// opened takes conn (and its filter, if any) as the input's open source.
func (in *input) opened(conn reader, f *bpf.Filter, now time.Time) {
	in.conn, in.filter = conn, f
	in.markers = f != nil && f.Mode() == bpf.ModeClassic
	_, in.pulled = conn.(*nic.Pipe)
	if f != nil {
		in.kind = f.Kind()
	}
	in.lastData, in.since = now, time.Time{}
	in.drops = 0
	if in.url.RTP {
		in.rtp = nic.NewRTPReceiver(nic.DefaultRTPWindow)
		g := &in.s.seg
		in.emit = func(p []byte) { g.datagram(p) }
	}
}

// close closes the source and keeps what it counted.
func (in *input) close() {
	if in.conn != nil {
		in.conn.Close()
		in.conn = nil
	}
	if in.filter != nil {
		in.filter.Close()
		in.filter = nil
	}
	in.dropsBase += in.drops
	in.drops = 0
	for i := range in.filtered {
		in.filteredBase[i] += in.filtered[i]
		in.filtered[i] = 0
	}
	in.rtp = nil
}

// read drains a ready source, at most readsPerWake batches into b, and
// returns how many datagrams it read, and more when it stopped at that
// quota with a full batch: the source likely holds more, and the worker
// comes back to it at once instead of waiting. The active input's datagrams
// go to the segmenter; a standby input's only prove it alive.
func (in *input) read(b *nic.Batch, now time.Time) (datagrams int, more bool) {
	s := in.s
	s.seg.now = now
	active := in.active()
	got := false
	for r := 0; r < readsPerWake; r++ {
		n, err := in.conn.ReadBatch(b)
		if err != nil {
			s.logf("stream %s: receive: %v", s.cfg.Name, err)
			break
		}
		if n == 0 {
			break
		}
		datagrams += n
		in.recent += n
		for i := 0; i < n; i++ {
			got = in.take(b, i, active) || got
		}
		if n < b.Cap() {
			break
		}
		more = r == readsPerWake-1
	}
	if got {
		s.received(in, now)
	}
	return datagrams, more
}

// take handles datagram i of b, one of this input's: a classic filter's
// refusal marker is counted, and what carries TS goes to the segmenter
// when the input is the active one. It reports whether the datagram was
// data (not a marker), which proves the input alive.
func (in *input) take(b *nic.Batch, i int, active bool) bool {
	return in.takeData(b.Msg(i), b.Truncated(i), active)
}

// takeData is take for a datagram d that is not in a batch (a ring's);
// truncated says it was cut to the buffer.
func (in *input) takeData(d []byte, truncated, active bool) bool {
	s := in.s
	if in.markers && len(d) < ts.PacketSize {
		// A classic filter trims what it refuses to a marker.
		if r, ok := bpf.Marker(in.kind, len(d)); ok {
			in.refused(r)
			return false
		}
	}
	if in.pulled && len(d) == 0 {
		// The pull reconnected: what follows is a new source (a restarted
		// origin), its counters and timeline its own. End the segment at
		// its last whole frame and start afresh, as after a source loss.
		if active {
			s.seg.sourceLost()
			s.seg.health.NewSource()
		}
		return false
	}
	switch {
	case !active:
	case truncated:
		s.c.add(Datagrams, 1)
		s.c.add(BadDatagrams, 1)
	case in.rtp != nil:
		if err := in.rtp.Push(d, in.emit); err != nil {
			s.c.add(Datagrams, 1)
			s.c.add(BadDatagrams, 1)
		}
	default:
		s.seg.datagram(d)
	}
	return true
}

func (in *input) refused(r bpf.Reason) {
	switch r {
	case bpf.BadSize:
		in.filtered[0]++
	case bpf.BadSync:
		in.filtered[1]++
	case bpf.BadRTP:
		in.filtered[2]++
	}
}

// count updates the input's filter and kernel drop counters: they cost
// system calls, so they run on the tick, not per batch. The socket's drop
// count (sk_drops) includes what an eBPF filter refused; those are read
// first and taken away, so what is left is the receive queue overflowing.
// A classic filter refuses by trimming to a marker instead (see package
// bpf), so there sk_drops is overflow alone. A source that is no socket
// counts neither.
func (in *input) count() {
	if in.rtp != nil && in.active() {
		in.s.rtpStats(in)
	}
	if in.shared != nil || in.ring != nil {
		return // the shared socket or ring counts for its groups (sharedConn.count, ringConn.count)
	}
	var refused uint64
	if f := in.filter; f != nil && f.Mode() == bpf.ModeEBPF {
		c, ok, err := f.Counts()
		if err != nil || !ok {
			return
		}
		in.filtered = [3]uint64{c.BadSize, c.BadSync, c.BadRTP}
		refused = c.Refused
	}
	conn, ok := in.conn.(*nic.Conn)
	if !ok {
		return
	}
	d, err := bpf.SocketDrops(conn.Fd())
	if err != nil {
		return
	}
	// sk_drops is 32 bits in the kernel; it wraps after 4 G drops.
	if k := d - refused; d >= refused && k > in.drops {
		in.drops = k
	}
}
