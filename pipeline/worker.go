package pipeline

import (
	"runtime"
	"time"

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
	s     *Stream
	conn  *nic.Conn // nil until the input socket opens
	drops uint32    // the socket's kernel drop count last seen
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
			g.datagram(w.batch.Msg(i))
		}
		got = true
		if n < batchCount {
			break
		}
	}
	if got {
		// The kernel's count is cumulative and wraps; take the delta.
		if d := sl.conn.Drops(); d != sl.drops {
			s.c.kernelDrops.Add(uint64(d - sl.drops))
			sl.drops = d
		}
		g.commit()
		s.c.lastData.Store(now.UnixNano())
		if !s.up.Load() {
			s.up.Store(true)
			w.logf("stream %s: source up", s.cfg.Name)
		}
		s.notify()
	}
}

// tick marks silent sources down.
func (w *worker) tick(now time.Time) {
	for _, sl := range w.slots {
		if sl == nil || !sl.s.up.Load() {
			continue
		}
		s := sl.s
		if now.Sub(time.Unix(0, s.c.lastData.Load())) > s.cfg.SourceTimeout {
			s.up.Store(false)
			s.seg.now = now
			s.seg.sourceLost()
			s.notify()
			w.logf("stream %s: source down: no data for %v", s.cfg.Name, s.cfg.SourceTimeout)
		}
	}
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
func (w *worker) attach(s *Stream, conn *nic.Conn) bool {
	i, sl := w.find(s)
	if sl == nil {
		return false
	}
	if err := w.poller.Add(conn.Fd(), uint32(i)); err != nil {
		w.logf("stream %s: %v", s.cfg.Name, err)
		return false
	}
	sl.conn = conn
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
	s.up.Store(false)
	s.seg.stop()
	w.slots[i] = nil
}
