package pipeline

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// Stream is one channel: its segmenter state (owned by the receive worker
// goroutine that serves its socket) and what it publishes for HTTP readers
// (atomics and immutable snapshots, safe for concurrent use).
type Stream struct {
	cfg  config.Stream
	pool *Pool
	logf func(string, ...any)

	timeline atomic.Pointer[Timeline]
	live     atomic.Pointer[Segment] // the segment being written, for /mpegts
	up       atomic.Bool
	ready    atomic.Pointer[chan struct{}] // closed when the first segment is published
	stopped  chan struct{}                 // closed when the stream is removed
	c        counters

	// Lifecycle. An ondemand stream waits with no socket open until a
	// request touches it; running streams have their inputs open (or
	// opening). gen moves on whenever inputs close, so connects of an
	// earlier start give up.
	state     atomic.Int32
	gen       atomic.Uint64
	lastTouch atomic.Int64 // unix ns of the last request or live client leaving
	started   atomic.Int64 // unix ns of the last start, for uptime
	start     func(*Stream)
	activeURL atomic.Pointer[string]
	// publishing: a publisher holds the live stream's publish slot.
	publishing atomic.Bool
	pubInfo    atomic.Pointer[PublisherInfo]

	// Worker-owned: the inputs in priority order and the one feeding the
	// segmenter.
	inputs []*input
	active int

	subMu sync.Mutex
	subs  atomic.Pointer[[]chan struct{}]

	viewMu  sync.Mutex
	viewers map[netip.Addr]int64 // HLS clients by address: unix ns of the last request

	pidMu   sync.Mutex
	pidStat []ts.PIDStat // copied from the health monitor by the worker

	keys *keyring // drm streams' keys; nil without drm

	seg segmenter
	// RTP counters of earlier sources (worker-owned), and all so far.
	rtpBase, rtpSeen nic.RTPStats
	w                *worker // the receive worker that owns seg
}

const (
	stateWaiting = iota // ondemand, no input open
	stateRunning
)

func newStream(cfg config.Stream, pool *Pool, logf func(string, ...any)) *Stream {
	// Inputs in priority order (lower priority= first), file order on ties.
	cfg.Inputs = slices.Clone(cfg.Inputs)
	slices.SortStableFunc(cfg.Inputs, func(a, b config.Input) int { return a.Priority - b.Priority })
	if cfg.Live && !slices.ContainsFunc(cfg.Inputs, func(in config.Input) bool { return isPublishSlot(in.URL) }) {
		// The publish slot comes first; configured inputs are its backups.
		cfg.Inputs = append([]config.Input{{URL: publishScheme + cfg.Name, SourceTimeout: cfg.SourceTimeout}}, cfg.Inputs...)
	}
	s := &Stream{
		cfg:     cfg,
		pool:    pool,
		logf:    logf,
		stopped: make(chan struct{}),
	}
	ready := make(chan struct{})
	s.ready.Store(&ready)
	for i, in := range cfg.Inputs {
		src, _ := nic.ParseURL(in.URL) // validated by the caller
		timeout := in.SourceTimeout
		if timeout <= 0 {
			timeout = cfg.SourceTimeout
		}
		s.inputs = append(s.inputs, &input{s: s, idx: i, url: src, timeout: timeout, tag: -1})
	}
	if len(cfg.Inputs) > 0 {
		s.activeURL.Store(&s.cfg.Inputs[0].URL)
	}
	if d, ok := cfg.DRMSpec(); ok {
		s.keys = newKeyring(d, cfg.Name, &s.c, logf)
	}
	s.seg.init(s)
	return s
}

// Touch records a client's request. An ondemand stream that waits starts
// its inputs now; concurrent first requests share that one start.
func (s *Stream) Touch() {
	s.lastTouch.Store(coarseNow())
	if s.state.Load() == stateWaiting && s.state.CompareAndSwap(stateWaiting, stateRunning) {
		s.started.Store(time.Now().UnixNano())
		s.start(s)
	}
}

// clock is the time in unix nanoseconds as of the last worker loop or tick
// (at most 100 ms old). Per-request bookkeeping (ondemand keep-alive, the
// viewer count) needs no finer, and reading the clock costs more than the
// rest of a playlist request's handling on some virtual machines.
var clock atomic.Int64

func coarseNow() int64 {
	if t := clock.Load(); t != 0 {
		return t
	}
	return time.Now().UnixNano()
}

// maxViewers bounds the HLS client table; past it new addresses are not
// counted (the figure is a gauge for operators, not billing).
const maxViewers = 4096

// Seen records an HLS request from addr.
func (s *Stream) Seen(addr netip.Addr) {
	now := coarseNow()
	s.viewMu.Lock()
	if s.viewers == nil {
		s.viewers = map[netip.Addr]int64{}
	}
	if _, ok := s.viewers[addr]; ok || len(s.viewers) < maxViewers {
		s.viewers[addr] = now
	}
	s.viewMu.Unlock()
}

// Viewers is the number of HLS clients (by address) that fetched within
// the last three segment durations: a player refreshes its playlist at
// least once a target duration.
func (s *Stream) Viewers() int {
	cutoff := time.Now().Add(-3*s.cfg.SegmentDuration - time.Second).UnixNano()
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	for a, t := range s.viewers {
		if t < cutoff {
			delete(s.viewers, a)
		}
	}
	return len(s.viewers)
}

func (s *Stream) running() bool { return s.state.Load() == stateRunning }

// Status is "running" (inputs open and data arriving), "down" (inputs
// open, no data within source_timeout) or "waiting" (ondemand, no client).
func (s *Stream) Status() string {
	switch {
	case !s.running():
		return "waiting"
	case s.up.Load():
		return "running"
	case s.publishSlot() >= 0 && !s.publishing.Load():
		return "waiting" // no publisher yet
	}
	return "down"
}

// ActiveInput is the URL of the input feeding the stream, its password
// hidden (stats reach people who may not read the config).
func (s *Stream) ActiveInput() string {
	if p := s.activeURL.Load(); p != nil {
		return redact(*p)
	}
	return ""
}

// Uptime is how long the stream has been running since its last start.
func (s *Stream) Uptime() time.Duration {
	if !s.running() {
		return 0
	}
	return time.Since(time.Unix(0, s.started.Load()))
}

// rewind forgets what readers could see, after an ondemand stop: the next
// request waits for a new first segment.
func (s *Stream) rewind() {
	s.timeline.Store(nil)
	s.live.Store(nil)
	ready := make(chan struct{})
	s.ready.Store(&ready)
	s.seg.published = false
	s.state.Store(stateWaiting)
}

// OnPlay is the stream's own on_play backend, "" for none: asked on every
// request, so not through Config's copy of the whole stream.
func (s *Stream) OnPlay() string { return s.cfg.OnPlay }

// Name is the stream's name, the first element of its URLs.
func (s *Stream) Name() string { return s.cfg.Name }

// Config is the configuration the stream runs with.
func (s *Stream) Config() config.Stream { return s.cfg }

// Ready is closed once the stream has published its first segment (since
// its last start, for an ondemand stream).
func (s *Stream) Ready() <-chan struct{} { return *s.ready.Load() }

// Stopped is closed when the stream has been removed.
func (s *Stream) Stopped() <-chan struct{} { return s.stopped }

// Up reports whether data arrived within the source timeout.
func (s *Stream) Up() bool { return s.up.Load() }

// Timeline is what the stream has published: its segments and the window
// a playlist lists; nil before the first segment (since the last start, for
// an ondemand stream). It is immutable and stays valid forever, but the
// memory of its segments may be reused (Segment.Valid).
func (s *Stream) Timeline() *Timeline { return s.timeline.Load() }

// Live returns the segment being written now: an /mpegts reader starts at
// its first byte (PAT, PMT, keyframe) and follows Next. Nil while the stream
// waits for its source.
func (s *Stream) Live() *Segment { return s.live.Load() }

// Subscribe returns a channel that receives a value (coalesced) whenever new
// bytes are committed, and a function to stop. The channel is never closed.
func (s *Stream) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	var cur []chan struct{}
	if p := s.subs.Load(); p != nil {
		cur = *p
	}
	next := append(append(make([]chan struct{}, 0, len(cur)+1), cur...), ch)
	s.subs.Store(&next)
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		p := s.subs.Load()
		if p == nil {
			return
		}
		next := make([]chan struct{}, 0, len(*p))
		for _, c := range *p {
			if c != ch {
				next = append(next, c)
			}
		}
		s.subs.Store(&next)
	}
}

// Clients is the number of live (/mpegts) readers attached now.
func (s *Stream) Clients() int {
	if p := s.subs.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// notify wakes the live readers; it never blocks and never allocates.
func (s *Stream) notify() {
	p := s.subs.Load()
	if p == nil {
		return
	}
	for _, c := range *p {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// PIDs returns the input's per-PID packet and loss counts (the first
// ts.MaxPIDStats PIDs seen), appended to dst.
func (s *Stream) PIDs(dst []ts.PIDStat) []ts.PIDStat {
	s.pidMu.Lock()
	defer s.pidMu.Unlock()
	return append(dst, s.pidStat...)
}
