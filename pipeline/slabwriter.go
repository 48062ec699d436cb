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
	off := seg.wr % ChunkSize
	ci := int(seg.wr / ChunkSize)
	if off == 0 {
		if ci == maxChunks {
			g.s.c.add(Dropped, 1)
			return
		}
		c := g.chunk()
		if c == nil {
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
// its own oldest segment that no playlist lists any more: better a late
// fetch answering 404 than live packets lost.
func (g *segmenter) chunk() *chunk {
	if c := g.s.pool.get(); c != nil {
		return c
	}
	if g.win.releaseUnlisted(g.s.pool) {
		g.publish()
		return g.s.pool.get()
	}
	return nil
}
