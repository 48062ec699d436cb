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
)

// worker is one receive goroutine, locked to an OS thread pinned to one core.
// It owns the segmenters of its streams: every change to them, ingest, the
// source-timeout tick, attaching a socket, removal, runs on this goroutine,
// so they need no locks. Other goroutines talk to it through do.
type worker struct {
	cpu    int
	poller *nic.Poller
	batch  *nic.Batch
	tags   []uint32
	slots  []*slot // indexed by epoll tag
	cmds   chan func()
	logf   func(string, ...any)
	load   int // streams assigned; guarded by Pipeline.mu
	done   chan struct{}
}

type slot struct {
	s      *Stream
	conn   *nic.Conn   // nil until the input socket opens
	filter *bpf.Filter // nil when none could be attached
	drops  uint64      // kernel drops counted so far (never goes back)
	rtp    *nic.RTPReceiver
	emit   func([]byte) // hands a depacketized TS payload to the segmenter
}

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
		for i := 0; i < n; i++ {
			if t := int(w.tags[i]); t < len(w.slots) && w.slots[t] != nil && w.slots[t].conn != nil {
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
			w.tick(now)
		}
	}
}

// read drains a ready socket into its stream, a bounded number of batches.
func (w *worker) read(sl *slot, now time.Time) {
	s := sl.s
	g := &s.seg
	g.now = now
	got := false
	for r := 0; r < readsPerWake; r++ {
		n, err := sl.conn.ReadBatch(w.batch)
		if err != nil {
			w.logf("stream %s: receive: %v", s.cfg.Name, err)
			break
		}
		if n == 0 {
			break
		}
		for i := 0; i < n; i++ {
			if w.batch.Truncated(i) {
				s.c.datagrams.Add(1)
				s.c.badDatagrams.Add(1)
				continue
			}
			d := w.batch.Msg(i)
			if sl.rtp == nil || g.markers && len(d) < ts.PacketSize {
				g.datagram(d)
				continue
			}
			if err := sl.rtp.Push(d, sl.emit); err != nil {
				s.c.datagrams.Add(1)
				s.c.badDatagrams.Add(1)
			}
		}
		got = true
		if n < batchCount {
			break
		}
	}
	if got {
		g.commit()
		s.c.lastData.Store(now.UnixNano())
		if !s.up.Load() {
			s.up.Store(true)
			w.logf("stream %s: source up", s.cfg.Name)
		}
		s.notify()
	}
}

// tick reads the socket counters and marks silent sources down.
func (w *worker) tick(now time.Time) {
	for _, sl := range w.slots {
		if sl == nil {
			continue
		}
		if sl.conn != nil {
			w.count(sl)
		}
		sl.s.seg.publishHealth(now)
		if !sl.s.up.Load() {
			continue
		}
		s := sl.s
		if now.Sub(time.Unix(0, s.c.lastData.Load())) > s.cfg.SourceTimeout {
			s.up.Store(false)
			s.seg.now = now
			if sl.rtp != nil {
				sl.rtp.Flush(sl.emit)
				w.rtpStats(sl)
				sl.rtp.Reset() // a returning source starts a new sequence
				s.rtpBase = s.rtpSeen
			}
			s.seg.sourceLost()
			s.notify()
			w.logf("stream %s: source down: no data for %v", s.cfg.Name, s.cfg.SourceTimeout)
		}
	}
}

// count updates the filter and kernel drop counters, a few times a second:
// reading them costs system calls, so not per batch. The socket's drop count
// (sk_drops) includes the datagrams an eBPF filter refused; those are read
// first and taken away, so what is left is the receive queue overflowing.
// A classic filter refuses by trimming to a marker instead (see package
// bpf), so there sk_drops is overflow alone.
func (w *worker) count(sl *slot) {
	s := sl.s
	if sl.rtp != nil {
		w.rtpStats(sl)
	}
	var refused uint64
	if f := sl.filter; f != nil && f.Mode() == bpf.ModeEBPF {
		c, ok, err := f.Counts()
		if err != nil || !ok {
			return
		}
		s.c.filteredSize.Store(c.BadSize)
		s.c.filteredSync.Store(c.BadSync)
		s.c.filteredRTP.Store(c.BadRTP)
		refused = c.Refused
	}
	d, err := bpf.SocketDrops(sl.conn.Fd())
	if err != nil {
		return
	}
	// sk_drops is 32 bits in the kernel; it wraps after 4 G drops.
	if k := d - refused; d >= refused && k > sl.drops {
		s.c.kernelDrops.Add(k - sl.drops)
		sl.drops = k
	}
}

// rtpStats publishes the RTP receiver's counters. Reset zeroes them when a
// source comes back, so what earlier sources did is kept in rtpBase.
func (w *worker) rtpStats(sl *slot) {
	st := sl.rtp.Stats()
	s := sl.s
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
	for i, sl := range w.slots {
		if sl == nil {
			w.slots[i] = &slot{s: s}
			return
		}
	}
	w.slots = append(w.slots, &slot{s: s})
}

func (w *worker) find(s *Stream) (int, *slot) {
	for i, sl := range w.slots {
		if sl != nil && sl.s == s {
			return i, sl
		}
	}
	return -1, nil
}

// attach starts polling conn for s; false if s is gone meanwhile.
func (w *worker) attach(s *Stream, conn *nic.Conn, f *bpf.Filter) bool {
	i, sl := w.find(s)
	if sl == nil {
		return false
	}
	if err := w.poller.Add(conn.Fd(), uint32(i)); err != nil {
		w.logf("stream %s: %v", s.cfg.Name, err)
		return false
	}
	sl.conn, sl.filter = conn, f
	s.seg.markers = f != nil && f.Mode() == bpf.ModeClassic
	if f != nil {
		s.seg.markerKind = f.Kind()
	}
	if conn.Source().RTP {
		sl.rtp = nic.NewRTPReceiver(nic.DefaultRTPWindow)
		g := &s.seg
		sl.emit = func(p []byte) { g.datagram(p) }
	}
	return true
}

// remove stops polling s, closes its socket and returns its memory.
func (w *worker) remove(s *Stream) {
	i, sl := w.find(s)
	if sl == nil {
		return
	}
	if sl.conn != nil {
		w.poller.Del(sl.conn.Fd())
		sl.conn.Close()
	}
	if sl.filter != nil {
		sl.filter.Close()
	}
	s.up.Store(false)
	s.seg.stop()
	w.slots[i] = nil
}
