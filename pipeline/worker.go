package pipeline

import (
	"runtime"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

const (
	batchCount   = 64                 // datagrams per recvmmsg
	batchSize    = ts.PacketSize * 48 // 9024: a jumbo frame's worth of TS; larger datagrams count as bad
	readsPerWake = 8                  // batches per socket per wake-up, so one busy socket cannot starve the rest
	tick         = 100 * time.Millisecond
	// switchBack is how long a higher-priority input must deliver without
	// a gap before the stream returns to it.
	switchBack = time.Second
	// DefaultCoalesce is the shortest period between two wake-ups of a
	// worker that found data. A wake-up costs an epoll_wait and a recvmmsg
	// per ready socket whatever the batch holds, so with many low-rate
	// streams a worker that wakes per datagram spends most of its core on
	// system calls; letting datagrams gather for a millisecond makes each
	// call carry several (see bench/results/channels.md). It adds at most
	// that much latency, and only while the worker is busy (busyWakes).
	DefaultCoalesce = time.Millisecond
	// busyDatagrams is the datagrams per tick above which a worker gathers
	// (5000 a second: some thirty 1316-byte streams of 4 Mbit/s). Below it
	// even a wake-up per datagram costs under 2% of a core, and a worker
	// with a few streams keeps the latency floor. Counting datagrams, not
	// wake-ups, keeps the decision from flapping: gathering itself cuts the
	// wake-ups.
	busyDatagrams = 500
)

// worker is one receive goroutine, locked to an OS thread pinned to one core.
// It owns the segmenters and inputs of its streams: ingest, the tick,
// attaching and closing sockets, failover, ondemand stops, removal, all run
// on this goroutine, so they need no locks. Others talk to it through do.
type worker struct {
	cpu        int
	coalesce   time.Duration
	datagrams  int  // datagrams read since the last tick
	coalescing bool // the last tick saw more than busyDatagrams
	poller     *nic.Poller
	batch      *nic.Batch
	tags       []uint32
	slots      []*slot   // indexed by epoll tag
	streams    []*Stream // registered streams
	cmds       chan func()
	logf       func(string, ...any)
	load       int // streams assigned; guarded by Pipeline.mu
	done       chan struct{}
}

// slot is one input socket being polled.
type slot struct {
	s  *Stream
	in *input
}

// input is one of a stream's sources (worker-owned).
type input struct {
	idx     int
	src     nic.Source
	timeout time.Duration
	conn    *nic.Conn   // nil until the socket opens
	filter  *bpf.Filter // nil when none could be attached
	tag     int
	markers bool // the classic filter sends refusal markers
	kind    bpf.Kind
	rtp     *nic.RTPReceiver
	emit    func([]byte) // hands a depacketized TS payload to the segmenter

	lastData time.Time // last datagram (or when the socket opened)
	since    time.Time // start of the current run of data without a timeout-long gap
	drops    uint64    // kernel drops counted on this socket
	filtered [3]uint64 // refusals by reason on this socket: size, sync, RTP
	// What earlier sockets of this input counted (ondemand restarts).
	dropsBase    uint64
	filteredBase [3]uint64
}

func (in *input) live(now time.Time) bool { return now.Sub(in.lastData) <= in.timeout }

func newWorker(cpu int, logf func(string, ...any)) (*worker, error) {
	p, err := nic.NewPoller()
	if err != nil {
		return nil, err
	}
	return &worker{
		cpu:    cpu,
		poller: p,
		batch:  nic.NewBatch(batchCount, batchSize),
		tags:   make([]uint32, batchCount),
		cmds:   make(chan func(), 64),
		logf:   logf,
		done:   make(chan struct{}),
	}, nil
}

// do runs f on the worker goroutine and waits for it; false if the worker
// has ended and f did not run.
func (w *worker) do(f func()) bool {
	fin := make(chan struct{})
	select {
	case w.cmds <- func() { f(); close(fin) }:
	case <-w.done:
		return false
	}
	w.poller.Wake()
	select {
	case <-fin:
		return true
	case <-w.done:
		return false
	}
}

func (w *worker) run(stop <-chan struct{}) {
	defer close(w.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := nic.PinThread(w.cpu); err != nil {
		w.logf("receive worker: cannot pin to CPU %d: %v", w.cpu, err)
	}
	lastTick := time.Now()
	for {
		n, err := w.poller.Wait(w.tags, tick)
		if err != nil {
			w.logf("receive worker on CPU %d: %v", w.cpu, err)
			time.Sleep(tick)
		}
		now := time.Now()
		clock.Store(now.UnixNano())
		for i := 0; i < n; i++ {
			if t := int(w.tags[i]); t < len(w.slots) && w.slots[t] != nil {
				w.read(w.slots[t], now)
			}
		}
		for {
			select {
			case f := <-w.cmds:
				f()
				continue
			case <-stop:
				return
			default:
			}
			break
		}
		if now.Sub(lastTick) >= tick {
			lastTick = now
			w.coalescing = w.datagrams > busyDatagrams
			w.datagrams = 0
			w.tick(now)
		}
		if n > 0 && w.coalescing && w.coalesce > 0 {
			if d := w.coalesce - time.Since(now); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// read drains a ready socket, a bounded number of batches. The active
// input's datagrams go to the segmenter; a standby input's only prove it
// alive.
func (w *worker) read(sl *slot, now time.Time) {
	s, in := sl.s, sl.in
	g := &s.seg
	g.now = now
	active := s.active == in.idx
	got := false
	for r := 0; r < readsPerWake; r++ {
		n, err := in.conn.ReadBatch(w.batch)
		if err != nil {
			w.logf("stream %s: receive: %v", s.cfg.Name, err)
			break
		}
		if n == 0 {
			break
		}
		w.datagrams += n
		for i := 0; i < n; i++ {
			d := w.batch.Msg(i)
			if in.markers && len(d) < ts.PacketSize {
				// A classic filter trims what it refuses to a marker.
				if r, ok := bpf.Marker(in.kind, len(d)); ok {
					in.refused(r)
					continue
				}
			}
			got = true
			switch {
			case !active:
			case w.batch.Truncated(i):
				s.c.datagrams.Add(1)
				s.c.badDatagrams.Add(1)
			case in.rtp != nil:
				if err := in.rtp.Push(d, in.emit); err != nil {
					s.c.datagrams.Add(1)
					s.c.badDatagrams.Add(1)
				}
			default:
				g.datagram(d)
			}
		}
		if n < batchCount {
			break
		}
	}
	if !got {
		return
	}
	if !in.live(now) {
		in.since = now
	}
	in.lastData = now
	if !active {
		return
	}
	g.commit()
	s.c.lastData.Store(now.UnixNano())
	if !s.up.Load() {
		s.up.Store(true)
		w.logf("stream %s: source up (%s)", s.cfg.Name, in.src)
	}
	s.notify()
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

// tick, ten times a second: counters that cost system calls, TR 101 290
// time-based checks, failover, silent sources, idle ondemand streams.
func (w *worker) tick(now time.Time) {
	for _, s := range w.streams {
		var drops uint64
		var filtered [3]uint64
		for _, in := range s.inputs {
			if in.conn != nil {
				w.count(s, in)
			}
			drops += in.dropsBase + in.drops
			for i := range filtered {
				filtered[i] += in.filteredBase[i] + in.filtered[i]
			}
		}
		s.c.kernelDrops.Store(drops)
		s.c.filteredSize.Store(filtered[0])
		s.c.filteredSync.Store(filtered[1])
		s.c.filteredRTP.Store(filtered[2])
		s.seg.publishHealth(now)
		if s.running() {
			w.failover(s, now)
			w.idle(s, now)
		}
	}
}

// failover keeps the stream on its best live input: when the active one
// has been silent for its timeout the stream moves to the first live input
// in priority order, and it returns to a higher-priority input once that
// one has delivered for switchBack without a gap. With nothing live the
// stream is down.
func (w *worker) failover(s *Stream, now time.Time) {
	act := s.inputs[s.active]
	best := -1
	for _, in := range s.inputs {
		if in.conn != nil && in.live(now) && (in == act || now.Sub(in.since) >= switchBack || !act.live(now)) {
			best = in.idx
			break
		}
	}
	switch {
	case best >= 0 && best != s.active:
		w.switchTo(s, s.inputs[best], now)
	case best < 0 && s.up.Load():
		s.up.Store(false)
		s.seg.now = now
		w.flushRTP(s, act)
		s.seg.sourceLost()
		s.notify()
		w.logf("stream %s: source down: no data for %v", s.cfg.Name, act.timeout)
	}
}

// switchTo makes in the active input: the segment in progress ends where its
// media ended, and the new input's first keyframe opens the next one, after
// an EXT-X-DISCONTINUITY.
func (w *worker) switchTo(s *Stream, in *input, now time.Time) {
	old := s.inputs[s.active]
	s.seg.now = now
	w.flushRTP(s, old)
	s.seg.sourceLost()
	s.seg.health.NewSource()
	s.active = in.idx
	s.activeURL.Store(&s.cfg.Inputs[in.idx].URL)
	if in.rtp != nil {
		in.rtp.Reset()
	}
	s.c.switches.Add(1)
	s.up.Store(true)
	s.c.lastData.Store(in.lastData.UnixNano())
	w.logf("stream %s: input %s -> %s", s.cfg.Name, old.src, in.src)
}

func (w *worker) flushRTP(s *Stream, in *input) {
	if in.rtp == nil {
		return
	}
	in.rtp.Flush(in.emit)
	w.rtpStats(s, in)
	in.rtp.Reset() // a returning source starts a new sequence
	s.rtpBase = s.rtpSeen
}

// idle stops an ondemand stream nobody has asked for in clients_timeout:
// it leaves its groups and returns its slabs, and waits for the next
// request.
func (w *worker) idle(s *Stream, now time.Time) {
	if !s.cfg.OnDemand || s.Clients() > 0 {
		return
	}
	touched := s.lastTouch.Load()
	if now.Sub(time.Unix(0, touched)) <= s.cfg.ClientsTimeout {
		return
	}
	w.closeInputs(s)
	s.seg.stop()
	s.seg.resetSource()
	s.seg.win.disc = true
	s.rewind()
	w.logf("stream %s: no clients for %v: stopped, waiting for a request", s.cfg.Name, s.cfg.ClientsTimeout)
	if s.lastTouch.Load() != touched {
		s.Touch() // a request came in while stopping: start again
	}
}

// count updates an input's filter and kernel drop counters: they cost
// system calls, so not per batch. The socket's drop count (sk_drops)
// includes what an eBPF filter refused; those are read first and taken
// away, so what is left is the receive queue overflowing. A classic filter
// refuses by trimming to a marker instead (see package bpf), so there
// sk_drops is overflow alone.
func (w *worker) count(s *Stream, in *input) {
	if in.rtp != nil && s.active == in.idx {
		w.rtpStats(s, in)
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
	d, err := bpf.SocketDrops(in.conn.Fd())
	if err != nil {
		return
	}
	// sk_drops is 32 bits in the kernel; it wraps after 4 G drops.
	if k := d - refused; d >= refused && k > in.drops {
		in.drops = k
	}
}

// rtpStats publishes the RTP receiver's counters. Reset zeroes them when a
// source comes back, so what earlier sources did is kept in rtpBase.
func (w *worker) rtpStats(s *Stream, in *input) {
	st := in.rtp.Stats()
	s.rtpSeen = RTPStats{
		Lost:       s.rtpBase.Lost + st.Lost,
		Reordered:  s.rtpBase.Reordered + st.Reordered,
		Duplicates: s.rtpBase.Duplicates + st.Duplicates,
		Late:       s.rtpBase.Late + st.Late,
	}
	s.c.rtpLost.Store(s.rtpSeen.Lost)
	s.c.rtpReordered.Store(s.rtpSeen.Reordered)
	s.c.rtpDuplicates.Store(s.rtpSeen.Duplicates)
	s.c.rtpLate.Store(s.rtpSeen.Late)
}

// add registers s on the worker (on the worker goroutine).
func (w *worker) add(s *Stream) {
	w.streams = append(w.streams, s)
}

func (w *worker) registered(s *Stream) bool {
	for _, x := range w.streams {
		if x == s {
			return true
		}
	}
	return false
}

// attach starts polling conn as input i of s; false if s is gone or was
// stopped (its generation moved on) meanwhile.
func (w *worker) attach(s *Stream, i int, gen uint64, conn *nic.Conn, f *bpf.Filter) bool {
	if !w.registered(s) || s.gen.Load() != gen {
		return false
	}
	in := s.inputs[i]
	tag := -1
	for t, sl := range w.slots {
		if sl == nil {
			tag = t
			break
		}
	}
	if tag < 0 {
		tag = len(w.slots)
		w.slots = append(w.slots, nil)
	}
	if err := w.poller.Add(conn.Fd(), uint32(tag)); err != nil {
		w.logf("stream %s: %v", s.cfg.Name, err)
		return false
	}
	w.slots[tag] = &slot{s: s, in: in}
	in.tag = tag
	in.conn, in.filter = conn, f
	in.markers = f != nil && f.Mode() == bpf.ModeClassic
	if f != nil {
		in.kind = f.Kind()
	}
	in.lastData, in.since = time.Now(), time.Time{}
	in.drops = 0
	if in.src.RTP {
		in.rtp = nic.NewRTPReceiver(nic.DefaultRTPWindow)
		g := &s.seg
		in.emit = func(p []byte) { g.datagram(p) }
	}
	return true
}

// closeInputs stops polling and closes every input socket of s (leaving
// its groups).
func (w *worker) closeInputs(s *Stream) {
	s.gen.Add(1) // pending connects of this start give up
	for _, in := range s.inputs {
		if in.conn != nil {
			w.poller.Del(in.conn.Fd())
			in.conn.Close()
			w.slots[in.tag] = nil
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
	s.up.Store(false)
}

// remove closes s's inputs and returns its memory.
func (w *worker) remove(s *Stream) {
	if !w.registered(s) {
		return
	}
	w.closeInputs(s)
	s.seg.stop()
	for i, x := range w.streams {
		if x == s {
			w.streams = append(w.streams[:i], w.streams[i+1:]...)
			break
		}
	}
}
