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
	// DefaultCoalesce is the shortest period between two wake-ups of a
	// worker that found data. A wake-up costs an epoll_wait and a recvmmsg
	// per ready socket whatever the batch holds, so with many low-rate
	// streams a worker that wakes per datagram spends most of its core on
	// system calls; letting datagrams gather for a millisecond makes each
	// call carry several (see bench/results/channels.md). It adds at most
	// that much latency, and only while the worker is busy (busyDatagrams), and less when one input alone would fill a batch sooner (worker.pace).
	DefaultCoalesce = time.Millisecond
	// busyDatagrams is the datagrams per tick above which a worker gathers
	// (1000 a second: some three 1316-byte streams of 4 Mbit/s). Below it a
	// worker wakes for each datagram and keeps the latency floor of a lone
	// low-rate stream. A wake-up costs tens of µs on a VM (ten 4 Mbit/s
	// streams, 3800 datagrams a second, took 19% of a core waking for each,
	// 5.4% gathering: slabbench publish, its UDP row, before and after), so
	// gathering starts early.
	// Counting datagrams, not wake-ups, keeps the decision from flapping:
	// gathering itself cuts the wake-ups.
	busyDatagrams = 100
)

// worker is one receive goroutine, locked to an OS thread pinned to one
// core. It only polls: it waits for its inputs' descriptors, has the ready
// inputs read themselves into its batch (input.read), runs its streams'
// tick (Stream.tick) ten times a second, and runs what others hand it
// through do. Everything of a stream that runs on this goroutine, the
// segmenter, the inputs, failover, needs no locks.
type worker struct {
	cpu        int
	coalesce   time.Duration
	datagrams  int           // datagrams read since the last tick
	coalescing bool          // the last tick saw more than busyDatagrams
	gather     time.Duration // how long datagrams may gather after a pass (see pace)
	poller     *nic.Poller
	batch      *nic.Batch
	tags       []uint32
	slots      []polled  // indexed by epoll tag
	streams    []*Stream // registered streams
	shared     map[sharedKey][]*sharedConn
	rings      map[sharedKey]*ringConn // with useRing, in the shared sockets' place (ring.go)
	useRing    bool
	hinted     bool                 // logged that sockets reached the kernel's group limit
	alone      map[sharedKey]*input // the first input of a port, which has a socket of its own (shared.go)
	cmds       chan func()
	logf       func(string, ...any)
	load       int // streams assigned; guarded by Pipeline.mu
	done       chan struct{}
}

// polled is what a worker polls: an input's own socket, or a socket
// inputs share (shared.go).
type polled interface {
	read(b *nic.Batch, now time.Time) (datagrams int, more bool)
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
		clock.Store(now.UnixNano())
		more := false // an input stopped at its quota with data left
		for i := 0; i < n; i++ {
			if t := int(w.tags[i]); t < len(w.slots) && w.slots[t] != nil {
				d, m := w.slots[t].read(w.batch, now)
				w.datagrams += d
				more = more || m
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
		if elapsed := now.Sub(lastTick); elapsed >= tick {
			lastTick = now
			for _, list := range w.shared {
				for _, sc := range list {
					sc.count(w.batch, now)
				}
			}
			for _, rc := range w.rings {
				rc.count(w.batch, now)
			}
			w.pace(elapsed)
			w.datagrams = 0
			for _, s := range w.streams {
				s.tick(now)
			}
		}
		// Gather only after a pass that emptied every ready input: while
		// an input still returns full batches the core is behind, and
		// waiting would let its receive queue overflow. Each pass takes at
		// most readsPerWake batches from each ready input (epoll is
		// level-triggered: those with more are ready again at once), so a
		// flooded input cannot starve the others.
		if n > 0 && !more && w.coalescing {
			if d := w.gather - time.Since(now); d > 0 {
				nic.Nap(d)
			}
		}
	}
}

// pace decides, once a tick (elapsed since the last), whether the worker
// lets datagrams gather between passes and for how long: while it reads
// more than busyDatagrams a tick, for at most its coalesce period, and never
// longer than its busiest input takes to fill one batch, so that each
// recvmmsg carries about a batch and no receive queue holds more than that
// while the worker waits: a fast input, whose queue would overflow during a
// fixed millisecond, makes the wait shorter.
func (w *worker) pace(elapsed time.Duration) {
	w.coalescing = w.datagrams > busyDatagrams && w.coalesce > 0
	w.gather = w.coalesce
	peak := 0 // datagrams of the busiest socket since the last tick
	for _, s := range w.streams {
		for _, in := range s.inputs {
			peak = max(peak, in.recent) // 0 on a shared socket, which counts for its groups
			in.recent = 0
		}
	}
	for _, list := range w.shared {
		for _, sc := range list {
			peak = max(peak, sc.recent)
			sc.recent = 0
		}
	}
	if peak > 0 && elapsed > 0 {
		fill := elapsed * batchCount / time.Duration(peak) // time for that input to fill a batch
		w.gather = min(w.gather, fill)
	}
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
func (w *worker) attach(s *Stream, i int, gen uint64, conn reader, f *bpf.Filter) bool {
	if !w.registered(s) || s.gen.Load() != gen {
		return false
	}
	in := s.inputs[i]
	tag := w.slot(in)
	if err := w.poller.Add(conn.Fd(), uint32(tag)); err != nil {
		w.slots[tag] = nil
		w.logf("stream %s: %v", s.cfg.Name, err)
		return false
	}
	in.tag = tag
	in.opened(conn, f, time.Now())
	return true
}

// slot stores p in a free slot and returns its tag.
func (w *worker) slot(p polled) int {
	for t, sl := range w.slots {
		if sl == nil {
			w.slots[t] = p
			return t
		}
	}
	w.slots = append(w.slots, p)
	return len(w.slots) - 1
}

// unwatch stops polling in's source: its own socket, or its group on a
// shared one.
func (w *worker) unwatch(in *input) {
	if in.shared != nil {
		in.shared.leave(in)
		return
	}
	if in.ring != nil {
		in.ring.leave(in)
		return
	}
	w.poller.Del(in.conn.Fd())
	w.slots[in.tag] = nil
	w.unclaim(in)
}

// unclaim forgets in as the first input of its port (shared.go), so the
// next input of the port takes its place.
func (w *worker) unclaim(in *input) {
	for k, x := range w.alone {
		if x == in {
			delete(w.alone, k)
		}
	}
}

// remove closes s's inputs and returns its memory.
func (w *worker) remove(s *Stream) {
	if !w.registered(s) {
		return
	}
	s.closeInputs()
	s.seg.stop()
	for _, in := range s.inputs {
		w.unclaim(in) // also those that claimed a port but never opened
	}
	for i, x := range w.streams {
		if x == s {
			w.streams = append(w.streams[:i], w.streams[i+1:]...)
			break
		}
	}
}
