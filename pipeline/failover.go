package pipeline

import (
	"time"

	"github.com/slabcast/slabcast/nic"
)

// A running stream's life on its worker: what happens when data arrives,
// and ten times a second (tick) the counters that cost system calls, the
// TR 101 290 time-based checks, failover between inputs, silent sources
// and idle ondemand streams. Everything here runs on the stream's worker
// goroutine and touches only the stream's own state, so it needs no locks
// and is tested without sockets (failover_test.go).

// switchBack is how long a higher-priority input must deliver without a
// gap before the stream returns to it.
const switchBack = time.Second

// received runs after an input delivered datagrams at now.
func (s *Stream) received(in *input, now time.Time) {
	if !in.live(now) {
		in.since = now
	}
	in.lastData = now
	if !in.active() {
		return
	}
	s.seg.commit()
	s.c.lastData.Store(now.UnixNano())
	if !s.up.Load() {
		s.up.Store(true)
		s.logf("stream %s: source up (%s)", s.cfg.Name, redact(s.cfg.Inputs[in.idx].URL))
	}
	s.notify()
}

// tick is the stream's periodic work.
func (s *Stream) tick(now time.Time) {
	var drops uint64
	var filtered [3]uint64
	for _, in := range s.inputs {
		if in.conn != nil {
			in.count()
		}
		drops += in.dropsBase + in.drops
		for i := range filtered {
			filtered[i] += in.filteredBase[i] + in.filtered[i]
		}
	}
	s.c.n[KernelDrops].Store(drops)
	s.c.n[FilteredSize].Store(filtered[0])
	s.c.n[FilteredSync].Store(filtered[1])
	s.c.n[FilteredRTP].Store(filtered[2])
	s.seg.publishHealth(now)
	if s.running() {
		s.failover(now)
		s.idle(now)
	}
}

// failover keeps the stream on its best live input: when the active one
// has been silent for its timeout the stream moves to the first live input
// in priority order, and it returns to a higher-priority input once that
// one has delivered for switchBack without a gap. With nothing live the
// stream is down.
func (s *Stream) failover(now time.Time) {
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
		s.switchTo(s.inputs[best], now)
	case best < 0 && s.up.Load():
		s.up.Store(false)
		s.seg.now = now
		s.flushRTP(act)
		s.seg.sourceLost()
		s.notify()
		if act.conn == nil {
			s.logf("stream %s: source down: its input closed", s.cfg.Name) // a publisher that left
		} else {
			s.logf("stream %s: source down: no data for %v", s.cfg.Name, act.timeout)
		}
	}
}

// switchTo makes in the active input: the segment in progress ends where its
// media ended, and the new input's first keyframe opens the next one, after
// an EXT-X-DISCONTINUITY.
func (s *Stream) switchTo(in *input, now time.Time) {
	old := s.inputs[s.active]
	s.seg.now = now
	s.flushRTP(old)
	s.seg.sourceLost()
	s.seg.health.NewSource()
	s.active = in.idx
	s.activeURL.Store(&s.cfg.Inputs[in.idx].URL)
	if in.rtp != nil {
		in.rtp.Reset()
	}
	s.c.add(Switches, 1)
	s.up.Store(true)
	s.c.lastData.Store(in.lastData.UnixNano())
	s.logf("stream %s: input %s -> %s", s.cfg.Name, redact(s.cfg.Inputs[old.idx].URL), redact(s.cfg.Inputs[in.idx].URL))
}

// flushRTP hands on what in's RTP receiver still holds and counts it.
func (s *Stream) flushRTP(in *input) {
	if in.rtp == nil {
		return
	}
	in.rtp.Flush(in.emit)
	s.rtpStats(in)
	in.rtp.Reset() // a returning source starts a new sequence
	s.rtpBase = s.rtpSeen
}

// rtpStats publishes the RTP receiver's counters. Reset zeroes them when a
// source comes back, so what earlier sources did is kept in rtpBase.
func (s *Stream) rtpStats(in *input) {
	st := in.rtp.Stats()
	s.rtpSeen = nic.RTPStats{
		Lost:       s.rtpBase.Lost + st.Lost,
		Reordered:  s.rtpBase.Reordered + st.Reordered,
		Duplicates: s.rtpBase.Duplicates + st.Duplicates,
		Late:       s.rtpBase.Late + st.Late,
	}
	s.c.n[RTPLost].Store(s.rtpSeen.Lost)
	s.c.n[RTPReordered].Store(s.rtpSeen.Reordered)
	s.c.n[RTPDuplicates].Store(s.rtpSeen.Duplicates)
	s.c.n[RTPLate].Store(s.rtpSeen.Late)
}

// idle stops an ondemand stream nobody has asked for in clients_timeout:
// it leaves its groups and returns its slabs, and waits for the next
// request.
func (s *Stream) idle(now time.Time) {
	if !s.cfg.OnDemand || s.Clients() > 0 {
		return
	}
	touched := s.lastTouch.Load()
	if now.Sub(time.Unix(0, touched)) <= s.cfg.ClientsTimeout {
		return
	}
	s.closeInputs()
	s.seg.stop()
	s.seg.resetSource()
	s.seg.win.disc = true
	s.rewind()
	s.logf("stream %s: no clients for %v: stopped, waiting for a request", s.cfg.Name, s.cfg.ClientsTimeout)
	if s.lastTouch.Load() != touched {
		s.Touch() // a request came in while stopping: start again
	}
}

// closeInputs stops polling and closes every input of s (leaving its
// groups); connects still under way give up.
func (s *Stream) closeInputs() {
	s.gen.Add(1)
	for _, in := range s.inputs {
		if in.conn != nil && s.w != nil {
			s.w.unwatch(in)
		}
		in.close()
	}
	s.up.Store(false)
}
