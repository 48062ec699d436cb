package pipeline

import "github.com/slabcast/slabcast/ts"

// The slab writer: packets go once, from the receive buffer into the
// current segment's slab chunks, with the output's continuity counters kept
// running across a change of source.

// slabWriter is the segment being written and the output's continuity.
type slabWriter struct {
	cur       *Segment
	headerLen int64  // bytes of PAT and PMT the current segment starts with
	pesOff    int64  // offset of the last primary PES start in the current segment
	pesPTS    uint64 // and its PTS

	// starved: the pool had no chunk for the current segment, and nothing
	// of the stream's own could be given up. Its later packets are dropped,
	// not written past a hole: the segment is cut short at its last whole
	// access unit (or abandoned) and the next starts at a keyframe, flagged.
	starved bool
	orphan  *Segment // an abandoned segment whose live readers wait for its next

	// Output continuity counters (see continuity).
	ccOut   [8192]uint8
	ccShift [8192]uint8
	ccSeen  pidSet
	ccFresh pidSet
}

// write appends one packet to the current segment. When a new chunk is
// needed and none can be had, the packet is dropped and counted.
func (g *segmenter) write(p []byte) {
	w := &g.out
	seg := w.cur
	if w.starved {
		g.s.c.add(Dropped, 1)
		return
	}
	off := seg.wr % ChunkSize
	ci := int(seg.wr / ChunkSize)
	if off == 0 {
		if ci == maxChunks {
			g.s.c.add(Dropped, 1)
			return
		}
		c := g.chunk(seg)
		if c == nil {
			// Never write on past a hole: a segment must be whole bytes
			// of the source from a keyframe on.
			w.starved = true
			g.s.c.add(Dropped, 1)
			return
		}
		seg.refs[ci] = chunkRef{c: c, gen: c.gen.Load()}
		seg.nref.Store(int32(ci + 1))
	}
	pid := ts.PID(p)
	if int(pid) == g.prog.primaryPID && ts.PUSI(p) {
		w.pesOff, w.pesPTS = seg.wr, g.cut.pes.PTS // where the last access unit starts
	}
	q := seg.refs[ci].c.buf[off : off+ts.PacketSize]
	copy(q, p)
	seg.wr += ts.PacketSize
	w.continuity(q, pid)
}

// continuity keeps the output's continuity counters running across a
// change of source (a restart, a failover): the first packet of each PID
// from the new source fixes a shift that carries its counter on from the
// last one written, and later packets of that source get the same shift.
// Without it every player sees a continuity error at the switch and flags
// the first frames of the new source corrupt. Within one source nothing is
// renumbered, so real losses stay visible downstream.
func (w *slabWriter) continuity(q []byte, pid uint16) {
	cc := q[3] & 0x0F
	if w.ccFresh.has(pid) {
		w.ccFresh.clear(pid)
		w.ccShift[pid] = 0
		if w.ccSeen.has(pid) {
			want := w.ccOut[pid]
			if ts.HasPayload(q) {
				want++
			}
			w.ccShift[pid] = (want - cc) & 0x0F
		}
	}
	if sh := w.ccShift[pid]; sh != 0 {
		cc = (cc + sh) & 0x0F
		q[3] = q[3]&0xF0 | cc
	}
	w.ccOut[pid] = cc
	w.ccSeen.add(pid)
}

// newSource marks every PID's next packet as the first of a new source.
func (w *slabWriter) newSource() { w.ccFresh.all() }

// chunk takes a chunk from the pool; when it is empty, the stream gives up
// its own oldest segment that no playlist lists any more, failing that its
// oldest listed one while another stays listed: better a late fetch
// answering 404, or a short playlist, than live packets lost. A segment
// that has memory already is cut short rather than take the last listed
// one (starve); one that has none takes even that, so that a stream never
// waits on memory other streams hold, and none can wait for ever.
//
// cur is the segment the chunk is for: the one being written, or one being
// finished (its padding, drm.go), which is in no window yet.
func (g *segmenter) chunk(cur *Segment) *chunk {
	if c := g.s.pool.get(); c != nil {
		return c
	}
	for g.win.releaseUnlisted(g.s.pool) || g.win.releaseOldestListed(g.s.pool, 1, cur.MSN) ||
		cur.nref.Load() == 0 && g.win.releaseOldestListed(g.s.pool, 0, cur.MSN) {
		g.publish()
		if c := g.s.pool.get(); c != nil {
			return c
		}
	}
	return nil
}

// starve ends a segment the pool could not hold: cut short at its last
// whole access unit, or abandoned when it has none, and the stream waits
// for the next keyframe, flagged as a discontinuity (media is missing).
func (g *segmenter) starve() {
	g.finish(g.endPTS())
	g.state = waitKey
	g.win.disc = true
	g.cut.waiting = false
}

// cutShort trims a starved segment to its last whole access unit of the
// primary PID and returns where its media ends; ok is false when it holds
// none.
func (g *segmenter) cutShort(seg *Segment) (end uint64, ok bool) {
	w := &g.out
	if w.pesOff <= w.headerLen || w.pesOff > seg.wr {
		return 0, false
	}
	seg.wr = w.pesOff
	return w.pesPTS, true
}

// abandon gives a starved segment with no whole access unit back to the
// pool unpublished. Its media sequence number goes to the next segment, so
// the numbers a playlist implies stay contiguous; a live reader already on
// it moves to the next segment when that starts.
func (g *segmenter) abandon(seg *Segment) {
	g.out.cur = nil
	n := int(seg.nref.Load())
	for j := 0; j < n; j++ {
		g.s.pool.put(seg.refs[j].c)
	}
	seg.nref.Store(0)
	seg.wr = 0
	seg.size.Store(0)
	seg.done.Store(true)
	g.win.msn = seg.MSN
	if g.win.last == nil {
		g.win.numbered = false // nothing published: the next takes the clock's number
	}
	g.out.orphan = seg
}
