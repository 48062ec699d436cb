package pipeline

import (
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// The segmenter turns a stream's TS packets into segments. It runs on the
// receive worker that owns the stream's inputs, one datagram batch at a
// time, and allocates nothing per packet: packets are copied once, from the
// receive buffer into slab chunks, and everything else is fixed arrays.
//
// Its parts, one idea a file: program.go reads PAT and PMT and says which
// packets a segment stores; cut.go decides where segments start (at
// keyframes); slabwriter.go writes packets into slab chunks with continuity
// carried across sources; window.go keeps the finished segments and what a
// playlist lists. This file routes packets between them and opens and
// closes segments.
//
// States: waitPSI (no PMT yet: packets are dropped), waitKey (PMT known,
// waiting for the first keyframe, or the first PES with a PTS when the
// program has no video), inSeg (packets go to the current segment).

const (
	waitPSI = iota
	waitKey
	inSeg
)

type segmenter struct {
	s     *Stream
	state int
	now   time.Time // arrival time of the batch being processed

	prog  program
	cut   cutter
	clock mediaClock // the source's timeline in UTC: cuts, numbers, names
	out   slabWriter
	win   window

	health    ts.Health // TR 101 290 over every packet of the input
	noHealth  bool      // benchmarks only: measure the path without the monitor
	rateAt    time.Time // when the bitrate was last estimated
	rateBytes uint64

	curWall   time.Time // arrival time of the current segment's first packet
	published bool      // a segment was published since the last start
}

func (g *segmenter) init(s *Stream) {
	g.s = s
	program, pids := 0, []uint16(nil)
	if len(s.cfg.Inputs) > 0 {
		program, pids = s.cfg.Inputs[0].Program, parsePIDs(s.cfg.Inputs[0].PIDs)
	}
	g.prog.init(program, pids)
	g.health.SetProgram(uint16(program))
	g.health.SetPIDs(pids)
	g.cut.segDur90 = int64(s.cfg.SegmentDuration.Seconds() * ptsPerSec)
	g.win.init(s.cfg.SegmentDuration, s.cfg.SegmentCount)
	// Multicast (and unicast UDP) is what origin pairs share: measure the
	// clock well before the first segment. A publisher or a pull has one
	// origin, and its first second is worth more than the wait.
	if len(s.cfg.Inputs) > 0 {
		u := s.cfg.Inputs[0].URL
		g.clock.patient = strings.HasPrefix(u, "udp://") || strings.HasPrefix(u, "rtp://")
	}
}

// parsePIDs reads an input's pids= ("256,257", checked by package config).
func parsePIDs(s string) []uint16 {
	var pids []uint16
	for part := range strings.SplitSeq(s, ",") {
		if n, err := strconv.Atoi(part); err == nil && n >= 0 && n <= ts.MaxPID {
			pids = append(pids, uint16(n))
		}
	}
	return pids
}

// resetSource forgets everything learnt from the source: after a silence the
// source may come back with other PIDs or a new timeline.
func (g *segmenter) resetSource() {
	g.state = waitPSI
	g.prog.reset()
	g.out.newSource() // the next source's counters start wherever they like
	g.cut.holding, g.cut.holdN = false, 0
	g.cut.haveT = false
	g.cut.waiting = false
	g.clock.reset()
}

// datagram processes one received datagram.
func (g *segmenter) datagram(d []byte) {
	c := &g.s.c
	c.add(Datagrams, 1)
	c.add(Bytes, uint64(len(d)))
	if len(d) < ts.PacketSize || d[0] != ts.SyncByte || len(d)%ts.PacketSize != 0 {
		c.add(BadDatagrams, 1)
		if len(d) < ts.PacketSize || d[0] != ts.SyncByte {
			return // not TS at all: nothing in it is worth trusting
		}
		// Cut short: keep the whole packets in front of the cut.
	}
	var pkts uint64
	mono := int64(g.now.Sub(monoBase))
	for off := 0; off+ts.PacketSize <= len(d); off += ts.PacketSize {
		p := d[off : off+ts.PacketSize : off+ts.PacketSize]
		// TR 101 290 sees every packet slot, the damaged and the
		// unstored ones too.
		if !g.noHealth {
			g.health.Packet(p, mono)
		}
		if p[0] != ts.SyncByte {
			continue
		}
		pkts++
		g.packet(p)
	}
	c.add(Packets, pkts)
}

// monoBase anchors the monotonic nanoseconds the health monitor takes: a
// step of the wall clock must not look like a late PCR.
var monoBase = time.Now()

// publishHealth runs the monitor's time-based checks and copies its counts
// where readers can see them; a few times a second, from the worker.
func (g *segmenter) publishHealth(now time.Time) {
	g.health.Tick(int64(now.Sub(monoBase)))
	for i := range g.s.c.ts {
		g.s.c.ts[i].Store(g.health.Count(ts.Indicator(i)))
	}
	g.s.c.n[TSLost].Store(g.health.Lost())
	// Bitrate over the ticks since the last estimate, once a second.
	if dt := now.Sub(g.rateAt); dt >= time.Second || g.rateAt.IsZero() {
		b := g.s.c.n[Bytes].Load()
		if !g.rateAt.IsZero() {
			g.s.c.bitrate.Store(uint64(float64(b-g.rateBytes) * 8 / dt.Seconds()))
		}
		g.rateAt, g.rateBytes = now, b
		g.s.pidMu.Lock()
		g.s.pidStat = g.health.AppendPIDStats(g.s.pidStat[:0])
		g.s.pidMu.Unlock()
	}
}

// commit makes the bytes written so far visible to readers; once per batch.
func (g *segmenter) commit() {
	if g.out.cur != nil {
		g.out.cur.size.Store(g.out.cur.wr)
	}
}

func (g *segmenter) packet(p []byte) {
	if g.out.starved && g.state == inSeg {
		g.starve()
	}
	pid := ts.PID(p)
	if !g.prog.stores(pid) {
		return // not part of the program: not stored
	}
	if int(pid) == g.prog.pcrPID {
		// Before the PES it may start: a keyframe's first packet often
		// carries the PCR that lets the media clock place it.
		if v, ok := ts.PCR(p); ok {
			g.clock.pcr(v/300, g.now)
		}
	}
	switch {
	case pid == ts.PATPID:
		if p = g.onPAT(p); p == nil {
			return
		}
	case int(pid) == g.prog.pmtPID:
		g.onPMT(p)
		if g.prog.filtering {
			return // segments start with a PMT of their own (program.ownPMT)
		}
	case int(pid) == g.prog.primaryPID && ts.PUSI(p):
		g.pesStart(p)
	}
	if g.cut.holding {
		g.holdPacket(p, int(pid) == g.prog.videoPID)
		return
	}
	if g.state == inSeg {
		g.write(p)
	}
}

// onPAT follows the PAT and returns the packet to store in its place (see
// program.onPAT). A program that moves to another PMT PID ends the segment
// and starts the next at a keyframe, flagged.
func (g *segmenter) onPAT(p []byte) []byte {
	out, moved, missing := g.prog.onPAT(p)
	if missing && !g.prog.missingLogged {
		g.prog.missingLogged = true // once: the PAT repeats ten times a second
		g.s.logf("stream %s: the input's PAT has no program %d; waiting for it", g.s.cfg.Name, g.prog.want)
	}
	if moved && g.state != waitPSI {
		g.win.disc = true
		g.cut.haveT = false
		g.clock.reset() // another program: another clock
		if g.state == inSeg {
			g.state = waitKey
			g.finish(g.endPTS())
		}
	}
	return out
}

// onPMT follows the program's PMT: a new layout cuts at the next keyframe,
// and the first PMT (after the PAT) lets segments start.
func (g *segmenter) onPMT(p []byte) {
	if g.prog.onPMT(p) {
		g.win.disc = true
		g.cut.haveT = false
		g.clock.reset() // a new layout may be a new encoder
	}
	if g.state == waitPSI && g.prog.ready() {
		g.state = waitKey
	}
}

// msnBase is added to every media sequence number: it keeps them above the
// numbers of earlier versions (tenths of a second since 1970, 1.8e10 in
// 2026, until 2078), so that an upgrade does not take them back.
const msnBase = 1 << 35

// start opens a segment at pts (u unwrapped, see mediaclock.go) and
// writes the latest PAT and PMT into it.
//
// Its number is its media time in segment_durations (cut.go cuts segment
// n at the first keyframe at or after n × segment_duration), so that every
// daemon hearing the source numbers it alike; after that the next number
// is always this one plus one, as a playlist implies. Only the first
// segment, and one after a discontinuity that skipped whole segment
// durations, take their number from the media clock: the second moves
// the playlist on past the segments before it, because numbers a
// playlist implies cannot have a gap.
func (g *segmenter) start(pts uint64, u int64) {
	w := &g.win
	g.clock.settle(g.now)
	m := g.clock.media(u)
	disc := w.disc && w.last != nil
	if w.last != nil {
		// Never back: a new source placed before the last one ended, or
		// the offset stepping down, moves this run on (mediaclock.go).
		m = g.clock.after(m, wall90(w.last.Start.Add(w.last.Duration)))
	}
	if n := msnBase + uint64(max(floorDiv(m, g.cut.segDur90), 0)); !w.numbered || disc && n > w.msn {
		if w.numbered {
			w.firstMSN = n // a new playlist: see window.first
		}
		w.msn, w.numbered = n, true
	}
	seg := &Segment{MSN: w.msn, startPTS: pts, startM: m, pool: g.s.pool}
	w.msn++
	if disc {
		seg.Discontinuity = true
		g.s.c.add(Discontinuities, 1)
	}
	w.disc = false
	// EXT-X-PROGRAM-DATE-TIME is the media time: the same in every daemon,
	// continuous with the media (a step only when drift moves the clock's
	// offset by a second), and never repeating.
	seg.Start = mediaTime(m)
	if l := w.last; l != nil && !seg.Start.After(l.Start) {
		seg.Start = l.Start.Add(time.Millisecond)
	}
	seg.Period = Period{MSN: seg.MSN, Start: seg.Start, PTS: pts}
	if l := w.last; l != nil && !seg.Discontinuity {
		seg.Period = l.Period
	}
	seg.Epoch = seg.Start
	if l := w.last; l != nil {
		seg.Epoch = l.Epoch
	}
	g.out.cur = seg
	g.out.starved = false
	if o := g.out.orphan; o != nil {
		o.next.Store(seg)
		g.out.orphan = nil
	}
	g.curWall = g.now
	g.cut.waiting = false
	g.cut.maxPTS = pts
	g.state = inSeg
	for i := 0; i < g.prog.pat.n; i++ {
		g.write(g.prog.pat.pkts[i][:])
	}
	for i := 0; i < g.prog.pmt.n; i++ {
		g.write(g.prog.pmt.pkts[i][:])
	}
	g.out.headerLen, g.out.pesOff = seg.wr, 0
	if w.last != nil {
		w.last.next.Store(seg)
	}
	g.s.live.Store(seg)
}

// finish closes the current segment, media ending at end, and publishes it.
func (g *segmenter) finish(end uint64) {
	seg := g.out.cur
	if seg == nil {
		return
	}
	if g.out.starved {
		e, ok := g.cutShort(seg)
		if !ok {
			g.abandon(seg)
			return
		}
		end = e
	}
	g.out.cur = nil
	d := ts.PTSDiff(end, seg.startPTS)
	dur := time.Duration(d) * time.Second / ptsPerSec
	if d <= 0 || dur > 10*time.Minute {
		// Timestamps say nothing sensible: trust the arrival clock.
		dur = g.now.Sub(g.curWall)
		if dur <= 0 {
			dur = time.Millisecond
		}
	}
	seg.Duration = dur
	if g.s.keys != nil && !g.encrypt(seg) {
		// Never in the clear: without its key the segment is given back
		// unpublished, and the next one, when its key is there, follows a
		// discontinuity.
		g.s.c.add(Withheld, 1)
		g.abandon(seg)
		g.win.disc = true
		return
	}
	seg.size.Store(seg.wr)
	seg.done.Store(true)
	g.win.last = seg
	g.win.add(seg, g.now, g.s.pool)
	g.s.c.add(Segments, 1)
	g.publish()
	if !g.published {
		g.published = true
		close(*g.s.ready.Load())
	}
}

// publish swaps in a new timeline for readers; once per segment, not per
// packet, so it may allocate.
func (g *segmenter) publish() { g.s.timeline.Store(g.win.timeline()) }

// sourceLost runs when the source has been silent for its timeout, or the
// stream leaves it for another input: the current segment ends where its
// media ended, and the stream waits for a source, flagged as a
// discontinuity.
//
// The segment ends before the last access unit of the primary PID: a source
// that stops, or that the stream leaves for another input, is cut mid-PES,
// and a torn last frame would be a decoding error in every player.
func (g *segmenter) sourceLost() {
	if g.cut.holding {
		g.resolve(ts.NotKeyframe)
	}
	if seg := g.out.cur; seg != nil {
		end := g.endPTS()
		if w := &g.out; w.pesOff > w.headerLen && w.pesOff < seg.wr {
			seg.wr = w.pesOff
			end = w.pesPTS
		}
		g.finish(end)
	}
	g.resetSource()
	g.win.disc = true
}

// stop returns all the stream's memory to the pool.
func (g *segmenter) stop() {
	if cur := g.out.cur; cur != nil {
		cur.size.Store(cur.wr)
		cur.done.Store(true)
		g.win.segs = append(g.win.segs, cur)
		g.out.cur = nil
	}
	g.win.releaseAll(g.s.pool)
}
