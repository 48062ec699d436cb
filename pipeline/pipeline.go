// Package pipeline is slabcast's middle: receive workers pinned to cores read
// each stream's socket in batches, the segmenter splices the TS packets into
// slab chunks from a preallocated pool and cuts segments at keyframes, and
// every stream publishes what HTTP readers need (playlist, segments, the live
// segment) through atomics and immutable snapshots.
//
// A stream's packets are touched by exactly one goroutine, its worker. HTTP
// goroutines only read: Stream methods are safe for concurrent use.
package pipeline

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
)

// Options configure a Pipeline.
type Options struct {
	CPUs       []int // cores for the receive workers; nil = every core the process may use
	Memory     int64 // slab pool bytes
	RecvBuffer int   // socket receive buffer per input; 0 = nic's default
	NoFilter   bool  // attach no socket filter (benchmarks measure what it costs)
	// NoShare gives every input a socket of its own, even multicast inputs
	// of one port that would share one (shared.go); benchmarks compare.
	NoShare bool
	// Ring takes multicast inputs from AF_PACKET rings, one per port and
	// interface a worker reads, instead of UDP sockets (ring.go); it needs
	// eBPF, like shared sockets, and NoShare turns it off too.
	Ring bool
	// KeepGOMAXPROCS leaves the runtime's processor count alone (New
	// otherwise adds one per worker; see there).
	KeepGOMAXPROCS bool
	// Coalesce is the shortest period between a worker's wake-ups that
	// found data: 0 means DefaultCoalesce, negative means wake per datagram.
	Coalesce time.Duration
	// Pull reads one connection of a pull input (rtsp://, srt://, and
	// tshttp:// and hls:// too): nil reads only the HTTP ones (package
	// httpts). The daemon passes one that knows every scheme, so that the
	// pipeline needs no protocol's package.
	Pull PullFunc
	Logf func(format string, args ...any)
}

// Pipeline owns the pool, the workers and the running streams.
type Pipeline struct {
	opt     Options
	share   bool // multicast inputs of a port share a socket (shared.go)
	pool    *Pool
	workers []*worker
	stop    chan struct{}

	// change serializes Start, Replace, Stop and Close, so a replacement's
	// steps (old stream off its worker, new one on, the map switched) are
	// one change to the others; mu guards the map for Lookup meanwhile.
	change  sync.Mutex
	mu      sync.RWMutex
	streams map[string]*Stream
	closed  bool
}

// ErrExists is returned by Start for a name already running.
var ErrExists = errors.New("pipeline: stream already exists")

// ErrNotFound is returned by Stop for an unknown name.
var ErrNotFound = errors.New("pipeline: no such stream")

// New maps the pool and starts one receive worker per core.
func New(opt Options) (*Pipeline, error) {
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Memory < MinMemory {
		return nil, fmt.Errorf("pipeline: memory %d bytes is below the minimum of %d", opt.Memory, MinMemory)
	}
	cpus := opt.CPUs
	if len(cpus) == 0 {
		cpus = nic.OnlineCPUs()
	}
	if len(cpus) == 0 {
		cpus = []int{0}
	}
	// A receive worker spends its idle time blocked in epoll_wait on a
	// locked thread, and the Go runtime hands that thread's processor to
	// other goroutines only when its monitor notices, up to 10 ms later.
	// With one processor per core, HTTP goroutines would wait that long
	// whenever the workers sleep: give the runtime one processor per
	// worker on top of the ones it already has.
	if want := runtime.GOMAXPROCS(0) + len(cpus); runtime.GOMAXPROCS(0) < want && !opt.KeepGOMAXPROCS {
		runtime.GOMAXPROCS(want)
	}
	pool, err := NewPool(opt.Memory)
	if err != nil {
		return nil, err
	}
	mode, why := bpf.Probe()
	if why != nil {
		opt.Logf("input filter: %v: %v", mode, why)
	} else {
		opt.Logf("input filter: %v", mode)
	}
	p := &Pipeline{opt: opt, pool: pool, stop: make(chan struct{}), streams: map[string]*Stream{}}
	// Sharing counts each group's datagrams in the eBPF filter's map.
	p.share = mode == bpf.ModeEBPF && !opt.NoFilter && !opt.NoShare
	for _, cpu := range cpus {
		w, err := newWorker(cpu, opt.Logf)
		if err != nil {
			p.Close()
			return nil, err
		}
		w.useRing = p.share && opt.Ring
		w.coalesce = opt.Coalesce
		if w.coalesce == 0 {
			w.coalesce = DefaultCoalesce
		}
		p.workers = append(p.workers, w)
		go w.run(p.stop)
	}
	return p, nil
}

// Pool is the slab pool.
func (p *Pipeline) Pool() *Pool { return p.pool }

// Start creates a stream. A static stream opens its inputs now; an
// ondemand one waits for the first request (Stream.Touch). An input socket
// that cannot open yet (an interface not up, say) is retried with capped
// backoff until it does or the stream stops.
func (p *Pipeline) Start(cfg config.Stream) error {
	return p.start(cfg, false)
}

// Replace stops the stream called cfg.Name, if one runs, and starts cfg in
// its place, with no moment at which Lookup finds no stream by that name:
// until the new stream is in place Lookup returns the old one, stopped
// (Stream.Stopped), whose finished segments still serve, and a request
// that waits for a segment looks again (the HTTP layer's waitReady). The
// new stream starts afresh: its own slabs, timeline and clients.
func (p *Pipeline) Replace(cfg config.Stream) error {
	return p.start(cfg, true)
}

func (p *Pipeline) start(cfg config.Stream, replace bool) error {
	p.change.Lock()
	defer p.change.Unlock()
	if len(cfg.Inputs) == 0 && !cfg.Live {
		return fmt.Errorf("pipeline: stream %s has no input", cfg.Name)
	}
	for _, in := range cfg.Inputs {
		if err := checkInput(in.URL); err != nil {
			return fmt.Errorf("pipeline: stream %s: %w", cfg.Name, err)
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("pipeline: closed")
	}
	old := p.streams[cfg.Name]
	if old != nil && !replace {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrExists, cfg.Name)
	}
	if old != nil {
		old.w.load--
	}
	w := p.workers[0]
	for _, x := range p.workers[1:] {
		if x.load < w.load {
			w = x
		}
	}
	w.load++
	s := newStream(cfg, p.pool, p.opt.Logf)
	s.w = w
	s.start = p.startInputs
	if old == nil {
		p.streams[cfg.Name] = s
	}
	p.mu.Unlock()

	if old != nil {
		// The old stream's sockets close before the new one's open (they
		// may be the same group and port), and it leaves the map only once
		// the new one is on its worker.
		close(old.stopped)
		old.w.do(func() { old.w.remove(old) })
	}
	if s.keys != nil {
		go s.keys.run(s.stopped)
	}
	w.do(func() { w.add(s) })
	if old != nil {
		p.mu.Lock()
		p.streams[cfg.Name] = s
		p.mu.Unlock()
	}
	if !cfg.OnDemand {
		s.Touch()
	}
	return nil
}

// startInputs opens every input of s, each in its own goroutine.
func (p *Pipeline) startInputs(s *Stream) {
	gen := s.gen.Load()
	for i := range s.cfg.Inputs {
		if isPublishSlot(s.cfg.Inputs[i].URL) {
			continue // filled by Publish
		}
		go p.connect(s, i, gen)
	}
}

// connect opens input i's socket, retrying with backoff, and hands it to the
// stream's worker; it gives up when the stream stops or this start (gen) is
// over.
func (p *Pipeline) connect(s *Stream, i int, gen uint64) {
	src, _ := nic.ParseURL(s.cfg.Inputs[i].URL)
	w := s.w
	pulled := isPulled(s.cfg.Inputs[i].URL)
	backoff := time.Second
	kind := bpf.KindTS
	if src.RTP {
		kind = bpf.KindRTP
	}
	current := func() bool {
		select {
		case <-s.stopped:
			return false
		default:
			return s.gen.Load() == gen
		}
	}
	// pause waits out the backoff before the next try, and doubles it;
	// false if the stream stopped meanwhile.
	pause := func() bool {
		select {
		case <-s.stopped:
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		return true
	}
	if pulled {
		p.pull(s, i, gen, current)
		return
	}
	share := p.share && src.Multicast
	for current() {
		rcvbuf := p.opt.RecvBuffer
		if n := s.cfg.Inputs[i].RecvBuffer; n > 0 {
			rcvbuf = n
		}
		opt := nic.Options{RecvBuffer: rcvbuf, Logf: func(format string, a ...any) {
			p.opt.Logf("stream %s: "+format, append([]any{s.cfg.Name}, a...)...)
		}}
		if share {
			var ok bool
			var err error
			w.do(func() { ok, err = w.join(s, i, gen, src, kind, opt) })
			var alone *cannotShare
			switch {
			case ok && w.useRing:
				p.opt.Logf("stream %s: listening on %s (the ring of port %d)", s.cfg.Name, src, src.Addr.Port())
				return
			case ok:
				p.opt.Logf("stream %s: listening on %s (socket shared by port %d)", s.cfg.Name, src, src.Addr.Port())
				return
			case err == nil:
				return // stopped meanwhile
			case errors.As(err, &alone):
				share = false
				if err != errFirstOnPort {
					p.opt.Logf("stream %s: input %s: a socket of its own: %v", s.cfg.Name, src, err)
				}
				continue
			}
			p.opt.Logf("stream %s: input %s: %v (retrying in %v)", s.cfg.Name, src, err, backoff)
			if !pause() {
				return
			}
			continue
		}
		// The filter goes on before bind and join, so no datagram is
		// queued unjudged. A stream without one still runs: the segmenter
		// checks every datagram itself.
		var f *bpf.Filter
		if !p.opt.NoFilter {
			var err error
			if f, err = bpf.New(kind); err != nil {
				p.opt.Logf("stream %s: no input filter: %v", s.cfg.Name, err)
			}
		}
		if f != nil {
			opt.Control = func(fd int) error {
				if err := f.Attach(fd); err != nil {
					p.opt.Logf("stream %s: no input filter: %v", s.cfg.Name, err)
					f.Close()
					f = nil
				}
				return nil
			}
		}
		conn, err := nic.Listen(src, opt)
		if err == nil {
			ok := false
			if current() {
				w.do(func() { ok = w.attach(s, i, gen, conn, f) })
			}
			if ok {
				p.opt.Logf("stream %s: listening on %s", s.cfg.Name, src)
				return
			}
			conn.Close()
			if f != nil {
				f.Close()
			}
			if !current() {
				return
			}
		} else {
			if f != nil {
				f.Close()
			}
			p.opt.Logf("stream %s: input %s: %v (retrying in %v)", s.cfg.Name, src, err, backoff)
		}
		if !pause() {
			return
		}
	}
}

// Stop removes a stream: its socket closes (leaving the group) and its slabs
// go back to the pool. HTTP readers still sending its segments stop with an
// error once the memory is reused, never with wrong bytes.
func (p *Pipeline) Stop(name string) error {
	p.change.Lock()
	defer p.change.Unlock()
	return p.stopLocked(name)
}

func (p *Pipeline) stopLocked(name string) error {
	p.mu.Lock()
	s, ok := p.streams[name]
	if ok {
		delete(p.streams, name)
		s.w.load--
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	close(s.stopped)
	s.w.do(func() { s.w.remove(s) })
	return nil
}

// Lookup returns the running stream called name, or nil.
func (p *Pipeline) Lookup(name string) *Stream {
	p.mu.RLock()
	s := p.streams[name]
	p.mu.RUnlock()
	return s
}

// Streams returns the running streams sorted by name.
func (p *Pipeline) Streams() []*Stream {
	p.mu.RLock()
	out := make([]*Stream, 0, len(p.streams))
	for _, s := range p.streams {
		out = append(out, s)
	}
	p.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Stream) int {
		if a.cfg.Name < b.cfg.Name {
			return -1
		}
		if a.cfg.Name > b.cfg.Name {
			return 1
		}
		return 0
	})
	return out
}

// Close stops every stream and worker. The pool's memory stays mapped: HTTP
// readers may still hold segments, and the process is about to end anyway.
func (p *Pipeline) Close() {
	p.change.Lock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.change.Unlock()
		return
	}
	p.closed = true
	names := make([]string, 0, len(p.streams))
	for n := range p.streams {
		names = append(names, n)
	}
	p.mu.Unlock()
	for _, n := range names {
		p.stopLocked(n)
	}
	p.change.Unlock()
	close(p.stop)
	for _, w := range p.workers {
		w.poller.Wake()
		<-w.done
		w.poller.Close()
	}
}
