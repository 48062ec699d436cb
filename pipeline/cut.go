package pipeline

import (
	"strconv"

	"github.com/slabcast/slabcast/ts"
)

// The cut decision: where segments start. It follows the primary PID's
// timestamps; once the current segment is segment_duration long, the next
// video PES is held back packet by packet, with every other PID's packets
// in between, until the keyframe scanner decides. A keyframe starts a new
// segment with the latest PAT and PMT, then the held packets; anything else
// goes into the current segment and the cut waits for the next PES. So
// every segment starts with PAT, PMT and a keyframe. A program without
// video is cut on time alone, at a PES start of its primary (audio) PID.

const (
	holdMax   = 512 // packets held while deciding a cut: 96 KiB
	keyWait   = 3   // segment_durations without a keyframe before cutting anyway
	maxJump   = 10 * 90000
	maxBack   = 1 * 90000
	ptsPerSec = 90000
)

// cutter is the state of the cut decision.
type cutter struct {
	segDur90 int64 // segment_duration in 90 kHz ticks
	pes      ts.PESHeader
	scan     ts.KeyframeScanner

	waiting      bool   // in waitKey, waitFrom is set
	waitFrom     uint64 // PTS of the first PES seen while waiting for a keyframe
	forcedLogged bool
	behindLogged bool

	holding bool
	hold    [holdMax][ts.PacketSize]byte
	holdN   int
	holdPTS uint64
	holdU   int64 // holdPTS unwrapped

	// Timing of the primary PID.
	haveT  bool
	lastT  uint64 // last DTS (or PTS) seen
	maxPTS uint64 // largest PTS in the current segment
	delta  uint64 // last positive step between PES timestamps: a frame's duration
}

// pesStart runs on a packet that starts a PES of the primary PID.
func (g *segmenter) pesStart(p []byte) {
	c := &g.cut
	if c.holding {
		// The previous PES ended undecided.
		g.resolve(ts.NotKeyframe)
	}
	if err := ts.ParsePESHeader(ts.Payload(p), &c.pes); err != nil || !c.pes.HasPTS {
		return
	}
	pts := c.pes.PTS
	t := pts
	if c.pes.HasDTS {
		t = c.pes.DTS
	}
	if c.haveT {
		d := ts.PTSDiff(t, c.lastT)
		if d > maxJump || d < -maxBack {
			// The source's clock jumped: close this segment where its
			// media ended, start the next at a keyframe, flagged.
			if g.state == inSeg {
				g.finish(g.endPTS())
				g.state = waitKey
			}
			g.win.disc = true
			g.clock.reset()
		} else if d > 0 {
			c.delta = uint64(d)
		}
	}
	c.lastT, c.haveT = t, true
	u := g.clock.pes(pts, g.now)

	switch g.state {
	case waitPSI:
		return
	case waitKey:
		if !c.waiting {
			c.waiting, c.waitFrom = true, pts
		}
		if !g.clock.ready(g.prog.pcrPID >= 0) {
			if ts.PTSDiff(pts, c.waitFrom) < keyWait*c.segDur90 {
				return // the first PCR places the media clock
			}
			// A PCR PID that carries none: PES timestamps place it, and
			// the wait for a keyframe starts now.
			g.clock.noPCR = true
			c.waitFrom = pts
		}
		if g.prog.videoPID < 0 {
			g.start(pts, u)
			return
		}
		if ts.PTSDiff(pts, c.waitFrom) >= keyWait*c.segDur90 {
			// No keyframe we can recognise (an open-GOP source, a codec
			// without a scanner): start anyway rather than never.
			g.forced("no keyframe recognised")
			g.start(pts, u)
			return
		}
		g.beginHold(pts, u)
	case inSeg:
		if ts.PTSDiff(pts, c.maxPTS) > 0 {
			c.maxPTS = pts
		}
		cur := g.out.cur
		oversize := cur.wr >= (maxChunks-2)*ChunkSize ||
			ts.PTSDiff(pts, cur.startPTS) >= keyWait*c.segDur90
		switch {
		case oversize:
			// No keyframe in sight: bound the segment anyway.
			g.forced("no keyframe within " + strconv.Itoa(keyWait) + " × segment_duration")
			g.cutAt(pts, u)
		case !g.due(cur, pts, u):
		case g.prog.videoPID < 0:
			g.cutAt(pts, u)
		default:
			g.beginHold(pts, u)
		}
	}
}

// due reports whether a PES (pts, unwrapped u) may start the next
// segment, n = cur.MSN+1: once its media time reaches n ×
// segment_duration, so that segments start where the media clock says
// and every daemon cuts alike (mediaclock.go). PTS, not DTS: the keyframe
// on a boundary has a PTS of exactly the boundary while its DTS is
// earlier.
//
// Two cases leave the rule, and come back to it:
//   - Behind: the segment started at or past that boundary already
//     (keyframes farther apart than segment_duration made the one before
//     it skip a boundary). It ends at the first keyframe half a
//     segment_duration on, so the numbers catch up with the media clock
//     by shorter segments and agree again with a daemon that never fell
//     behind.
//   - Far ahead: the boundary is more than three segment_durations away
//     (the numbers ran ahead of the media clock: a source before this one
//     came faster than real time). It is cut on its own duration, as the
//     numbers cannot wait for the clock.
func (g *segmenter) due(cur *Segment, pts uint64, u int64) bool {
	if g.win.disc {
		return true
	}
	dur := g.cut.segDur90
	next := int64(g.win.msn-msnBase) * dur
	switch {
	case cur.startM >= next:
		if !g.cut.behindLogged {
			g.cut.behindLogged = true
			g.s.logf("stream %s: a segment_duration passed without a keyframe: numbers fall behind the media clock and catch up "+
				"only by segments of half a segment_duration, so origins may disagree on them; for origin pairs use a segment_duration "+
				"longer than the keyframe interval (logged once)", g.s.cfg.Name)
		}
		return ts.PTSDiff(pts, cur.startPTS) >= dur/2
	case next-cur.startM > 3*dur:
		return ts.PTSDiff(pts, cur.startPTS) >= dur
	}
	return g.clock.media(u) >= next
}

// forced counts a cut not made at a keyframe and says why, once per stream.
func (g *segmenter) forced(why string) {
	g.s.c.add(ForcedCuts, 1)
	if !g.cut.forcedLogged {
		g.cut.forcedLogged = true
		g.s.logf("stream %s: cutting without a keyframe: %s (logged once)", g.s.cfg.Name, why)
	}
}

func (g *segmenter) beginHold(pts uint64, u int64) {
	c := &g.cut
	c.holding = true
	c.holdN = 0
	c.holdPTS, c.holdU = pts, u
	c.scan.Reset(g.prog.video)
}

func (g *segmenter) holdPacket(p []byte, video bool) {
	c := &g.cut
	copy(c.hold[c.holdN][:], p)
	c.holdN++
	if video {
		es := ts.Payload(p)
		if ts.PUSI(p) {
			if c.pes.DataOffset > len(es) {
				es = nil
			} else {
				es = es[c.pes.DataOffset:]
			}
		}
		v := c.scan.Feed(es)
		if ts.PUSI(p) && ts.RandomAccessIndicator(p) {
			// The muxer says this access unit is a random access point:
			// trust it for codecs without a scanner and for I-frames the
			// scanner does not take (non-IDR with a recovery point).
			v = ts.Keyframe
		}
		if v != ts.Undecided {
			g.resolve(v)
			return
		}
	}
	if c.holdN == holdMax {
		g.resolve(ts.NotKeyframe)
	}
}

// resolve ends a hold: on a keyframe the held packets start a new segment,
// otherwise they belong to the current one (or, before the first keyframe,
// nowhere).
func (g *segmenter) resolve(v ts.Verdict) {
	c := &g.cut
	c.holding = false
	n := c.holdN
	c.holdN = 0
	if v == ts.Keyframe {
		if g.state == inSeg {
			g.finish(c.holdPTS)
		}
		g.start(c.holdPTS, c.holdU)
		g.writeHeld(n, true)
		return
	}
	if g.state == inSeg {
		g.writeHeld(n, false)
	}
}

func (g *segmenter) writeHeld(n int, skipPSI bool) {
	for i := 0; i < n; i++ {
		p := g.cut.hold[i][:]
		if skipPSI {
			// The segment already starts with the latest PAT and PMT,
			// which include any held ones.
			if pid := int(ts.PID(p)); pid == ts.PATPID || pid == g.prog.pmtPID {
				continue
			}
		}
		g.write(p)
	}
}

// cutAt finishes the current segment at pts and starts the next there.
func (g *segmenter) cutAt(pts uint64, u int64) {
	g.finish(pts)
	g.start(pts, u)
}

// endPTS estimates where the current segment's media ends when no next
// segment tells: its last timestamp plus one frame.
func (g *segmenter) endPTS() uint64 {
	return (g.cut.maxPTS + g.cut.delta) & (ts.PTSWrap - 1)
}
