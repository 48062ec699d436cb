package pipeline

import (
	"bytes"
	"strconv"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// The segmenter turns a stream's TS packets into segments. It runs on the
// receive worker that owns the stream's socket, one datagram batch at a time,
// and allocates nothing per packet: packets are copied once, from the receive
// buffer into slab chunks, and everything else is fixed arrays in this struct.
//
// States: waitPSI (no PMT yet: packets are dropped), waitKey (PMT known,
// waiting for the first keyframe, or the first PES with a PTS when the
// program has no video), inSeg (packets go to the current segment).
//
// Cutting: once the current segment is segment_duration long (by the primary
// PID's timestamps), the next video PES is held back packet by packet, with
// every other PID's packets in between, until the keyframe scanner decides.
// A keyframe starts a new segment with the latest PAT and PMT, then the held
// packets; anything else goes into the current segment and the cut waits for
// the next PES. So every segment starts with PAT, PMT and a keyframe.

const (
	waitPSI = iota
	waitKey
	inSeg
)

const (
	holdMax   = 512 // packets held while deciding a cut: 96 KiB
	psiMax    = 6   // packets kept of the latest PAT and of the latest PMT: a 1024-byte section
	keyWait   = 3   // segment_durations without a keyframe before cutting anyway
	maxJump   = 10 * 90000
	maxBack   = 1 * 90000
	pdtSlew   = 10 * time.Millisecond
	ptsPerSec = 90000
)

type pidSet [8192 / 64]uint64

func (s *pidSet) has(pid uint16) bool { return s[pid>>6]&(1<<(pid&63)) != 0 }
func (s *pidSet) add(pid uint16)      { s[pid>>6] |= 1 << (pid & 63) }
func (s *pidSet) clear(pid uint16)    { s[pid>>6] &^= 1 << (pid & 63) }

// all marks every PID.
func (s *pidSet) all() {
	for i := range s {
		s[i] = ^uint64(0)
	}
}

type psiCopy struct {
	pkts [psiMax][ts.PacketSize]byte
	n    int
}

type segmenter struct {
	s     *Stream
	state int
	now   time.Time // arrival time of the batch being processed

	// PSI: assemblers, the raw packets of the section being received and of
	// the latest complete one (re-inserted at each segment start), and the
	// last section parsed, so that go-astits runs only when a table changes.
	patAsm, pmtAsm  ts.SectionAssembler
	patRaw, pmtRaw  psiCopy
	pat, pmt        psiCopy
	patSec, pmtSec  []byte
	pmtPID          int    // -1 until the PAT names one
	program         int    // program_number to take (program=); 0 = the first
	number          uint16 // program_number selected from the PAT
	noProgramLogged bool
	mpts            bool   // the PAT names several programs: store our own
	patOut          []byte // PAT section naming only the selected program
	patCC           uint8
	pids            pidSet
	video           ts.Codec
	videoPID        int // -1 when the program has no video
	primaryPID      int // video, else the first audio PID; its timestamps time the cuts

	health    ts.Health // TR 101 290 over every packet of the input
	rateAt    time.Time // when the bitrate was last estimated
	rateBytes uint64
	noHealth  bool // benchmarks only: measure the path without the monitor
	pes       ts.PESHeader
	scan      ts.KeyframeScanner

	waiting      bool   // in waitKey, waitFrom is set
	waitFrom     uint64 // PTS of the first PES seen while waiting for a keyframe
	forcedLogged bool

	holding bool
	hold    [holdMax][ts.PacketSize]byte
	holdN   int
	holdPTS uint64

	// Timing of the primary PID.
	haveT    bool
	lastT    uint64 // last DTS (or PTS) seen
	maxPTS   uint64 // largest PTS in the current segment
	delta    uint64 // last positive step between PES timestamps: a frame's duration
	segDur90 int64

	cur       *Segment
	headerLen int64  // bytes of PAT and PMT the current segment starts with
	pesOff    int64  // offset of the last primary PES start in the current segment
	pesPTS    uint64 // and its PTS

	// Output continuity counters (see continuity).
	ccOut     [8192]uint8
	ccShift   [8192]uint8
	ccSeen    pidSet
	ccFresh   pidSet
	last      *Segment   // the segment before cur (or the last one finished)
	segs      []*Segment // finished, fetchable, oldest first
	msn       uint64
	disc      bool   // the next segment starts after a discontinuity
	discGone  uint64 // discontinuity-flagged segments no longer listed
	target    int    // EXT-X-TARGETDURATION; never goes down
	firstMSN  uint64 // first segment listed in the playlist; never goes back
	maxKeep   int    // hard bound on segments kept, whatever the clock says
	curWall   time.Time
	published bool
}

func (g *segmenter) init(s *Stream, now time.Time) {
	g.s = s
	g.pmtPID, g.videoPID, g.primaryPID = -1, -1, -1
	g.patSec = make([]byte, 0, 1024)
	g.patOut = make([]byte, 0, 64)
	if len(s.cfg.Inputs) > 0 {
		g.program = s.cfg.Inputs[0].Program
	}
	g.health.SetProgram(uint16(g.program))
	g.pmtSec = make([]byte, 0, 1024)
	g.segDur90 = int64(s.cfg.SegmentDuration.Seconds() * ptsPerSec)
	// Media sequence numbers start from the clock in tenths of a second, so
	// that after a restart they still move forward: the previous run cannot
	// have made more than one segment per 100 ms of its life.
	g.msn = uint64(now.UnixMilli() / 100)
	g.target = int((s.cfg.SegmentDuration + time.Second - 1) / time.Second)
	// Segments leave by time (see expire); this bound only guards memory
	// against a clock that stands still.
	g.maxKeep = 4*s.cfg.SegmentCount + 8
}

// resetSource forgets everything learnt from the source: after a silence the
// source may come back with other PIDs or a new timeline.
func (g *segmenter) resetSource() {
	g.state = waitPSI
	g.patAsm.Reset()
	g.pmtAsm.Reset()
	g.patRaw.n, g.pmtRaw.n, g.pat.n, g.pmt.n = 0, 0, 0, 0
	g.patSec, g.pmtSec = g.patSec[:0], g.pmtSec[:0]
	g.pmtPID, g.videoPID, g.primaryPID = -1, -1, -1
	g.mpts = false
	g.pids = pidSet{}
	g.ccFresh.all() // the next source's counters start wherever they like
	g.holding, g.holdN = false, 0
	g.haveT = false
	g.waiting = false
}

// datagram processes one received datagram.
func (g *segmenter) datagram(d []byte) {
	c := &g.s.c
	c.datagrams.Add(1)
	c.bytes.Add(uint64(len(d)))
	if len(d) < ts.PacketSize || d[0] != ts.SyncByte || len(d)%ts.PacketSize != 0 {
		c.badDatagrams.Add(1)
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
	c.packets.Add(pkts)
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
	g.s.c.tsLost.Store(g.health.Lost())
	// Bitrate over the ticks since the last estimate, once a second.
	if dt := now.Sub(g.rateAt); dt >= time.Second || g.rateAt.IsZero() {
		b := g.s.c.bytes.Load()
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
	if g.cur != nil {
		g.cur.size.Store(g.cur.wr)
	}
}

func (g *segmenter) packet(p []byte) {
	pid := ts.PID(p)
	if pid == ts.NullPID || pid != ts.PATPID && int(pid) != g.pmtPID && !g.pids.has(pid) {
		return // not part of the program: not stored
	}
	switch {
	case pid == ts.PATPID:
		if p = g.onPAT(p); p == nil {
			return
		}
	case int(pid) == g.pmtPID:
		g.onPMT(p)
	case int(pid) == g.primaryPID && ts.PUSI(p):
		g.pesStart(p)
	}
	if g.holding {
		g.holdPacket(p, int(pid) == g.videoPID)
		return
	}
	if g.state == inSeg {
		g.write(p)
	}
}

// onPAT follows the PAT and returns the packet to store in its place: the
// packet itself when the input carries one program, nothing or a PAT of its
// own naming only the selected program when it carries several (MPTS), so
// that every segment holds one program.
func (g *segmenter) onPAT(p []byte) []byte {
	g.collect(&g.patRaw, p)
	sec, ok := g.patAsm.Push(p)
	if !ok {
		if g.mpts {
			return nil
		}
		return p
	}
	if !bytes.Equal(sec, g.patSec) {
		pat, err := ts.ParsePAT(sec)
		if err != nil {
			// Counted by the health monitor (CRC_error, PAT_error_2).
			if g.mpts {
				return nil
			}
			return p
		}
		g.patSec = append(g.patSec[:0], sec...)
		pmtPID, programs := -1, 0
		var sel ts.PATProgram
		for _, pr := range pat.Programs {
			if pr.Number == 0 {
				continue // the NIT
			}
			programs++
			if pmtPID < 0 && (g.program == 0 || int(pr.Number) == g.program) {
				pmtPID, sel = int(pr.PMTPID), pr
				g.number = pr.Number
			}
		}
		if pmtPID < 0 && !g.noProgramLogged {
			g.noProgramLogged = true // once: the PAT repeats ten times a second
			g.s.logf("stream %s: the input's PAT has no program %d; waiting for it", g.s.cfg.Name, g.program)
		}
		if pmtPID != g.pmtPID {
			g.pmtPID = pmtPID
			g.pmtAsm.Reset()
			g.pmtRaw.n, g.pmt.n = 0, 0
			g.pmtSec = g.pmtSec[:0]
			g.pids = pidSet{}
			g.videoPID, g.primaryPID = -1, -1
			if g.state != waitPSI {
				g.disc = true
				g.haveT = false
				if g.state == inSeg {
					g.state = waitKey
					g.finish(g.endPTS())
				}
			}
		}
		g.mpts = programs > 1
		if g.mpts {
			g.patOut = ts.AppendPATSection(g.patOut[:0], pat.TransportStreamID, sec[5]>>1&0x1F, []ts.PATProgram{sel})
		}
	}
	if !g.mpts {
		g.pat = g.patRaw
		return p
	}
	// One packet of our own: header, pointer_field 0, the section, stuffing.
	var out [ts.PacketSize]byte
	out[0], out[1], out[2], out[3] = ts.SyncByte, 0x40, 0x00, 0x10|g.patCC&0x0F
	g.patCC++
	n := copy(out[5:], g.patOut)
	for i := 5 + n; i < ts.PacketSize; i++ {
		out[i] = 0xFF
	}
	g.pat.pkts[0] = out
	g.pat.n = 1
	return g.pat.pkts[0][:]
}

func (g *segmenter) onPMT(p []byte) {
	g.collect(&g.pmtRaw, p)
	sec, ok := g.pmtAsm.Push(p)
	if !ok {
		return
	}
	if len(sec) >= 5 && uint16(sec[3])<<8|uint16(sec[4]) != g.number {
		return // another program's PMT sharing the PID: not ours, not parsed
	}
	if !bytes.Equal(sec, g.pmtSec) {
		pmt, err := ts.ParsePMT(sec)
		if err != nil {
			return // counted by the health monitor
		}
		known := len(g.pmtSec) != 0
		g.pids = pidSet{}
		g.pids.add(pmt.PCRPID)
		video, primary, codec := -1, -1, ts.CodecUnknown
		for _, es := range pmt.Streams {
			g.pids.add(es.PID)
			if es.Codec.IsVideo() && video < 0 {
				video, codec = int(es.PID), es.Codec
			}
			if primary < 0 && es.Codec != ts.CodecUnknown && !es.Codec.IsVideo() {
				primary = int(es.PID)
			}
		}
		if video >= 0 {
			primary = video
		}
		if known && (video != g.videoPID || primary != g.primaryPID) {
			g.disc = true // a new program layout: cut at the next keyframe
			g.haveT = false
		}
		g.videoPID, g.primaryPID, g.video = video, primary, codec
		g.pmtSec = append(g.pmtSec[:0], sec...)
		if g.state == waitPSI && g.pat.n > 0 && primary >= 0 {
			g.state = waitKey
		}
	}
	g.pmt = g.pmtRaw
}

// collect keeps the raw packets of the PSI section being received.
func (g *segmenter) collect(c *psiCopy, p []byte) {
	if ts.PUSI(p) {
		c.n = 0
	}
	if c.n < psiMax {
		copy(c.pkts[c.n][:], p)
		c.n++
	}
}

// pesStart runs on a packet that starts a PES of the primary PID.
func (g *segmenter) pesStart(p []byte) {
	if g.holding {
		// The previous PES ended undecided.
		g.resolve(ts.NotKeyframe)
	}
	if err := ts.ParsePESHeader(ts.Payload(p), &g.pes); err != nil || !g.pes.HasPTS {
		return
	}
	pts := g.pes.PTS
	t := pts
	if g.pes.HasDTS {
		t = g.pes.DTS
	}
	if g.haveT {
		d := ts.PTSDiff(t, g.lastT)
		if d > maxJump || d < -maxBack {
			// The source's clock jumped: close this segment where its
			// media ended, start the next at a keyframe, flagged.
			if g.state == inSeg {
				g.finish(g.endPTS())
				g.state = waitKey
			}
			g.disc = true
		} else if d > 0 {
			g.delta = uint64(d)
		}
	}
	g.lastT, g.haveT = t, true

	switch g.state {
	case waitPSI:
		return
	case waitKey:
		if !g.waiting {
			g.waiting, g.waitFrom = true, pts
		}
		if g.videoPID < 0 {
			g.start(pts)
			return
		}
		if ts.PTSDiff(pts, g.waitFrom) >= keyWait*g.segDur90 {
			// No keyframe we can recognise (an open-GOP source, a codec
			// without a scanner): start anyway rather than never.
			g.forced("no keyframe recognised")
			g.start(pts)
			return
		}
		g.beginHold(pts)
	case inSeg:
		if ts.PTSDiff(pts, g.maxPTS) > 0 {
			g.maxPTS = pts
		}
		oversize := g.cur.wr >= (maxChunks-2)*ChunkSize ||
			ts.PTSDiff(pts, g.cur.startPTS) >= keyWait*g.segDur90
		// PTS, not DTS: the keyframe that ends a segment_duration has a
		// PTS of exactly start+duration while its DTS is earlier.
		due := ts.PTSDiff(pts, g.cur.startPTS) >= g.segDur90 || g.disc
		switch {
		case oversize:
			// No keyframe in sight: bound the segment anyway.
			g.forced("no keyframe within " + strconv.Itoa(keyWait) + " × segment_duration")
			g.cut(pts)
		case !due:
		case g.videoPID < 0:
			g.cut(pts)
		default:
			g.beginHold(pts)
		}
	}
}

// forced counts a cut not made at a keyframe and says why, once per stream.
func (g *segmenter) forced(why string) {
	g.s.c.forcedCuts.Add(1)
	if !g.forcedLogged {
		g.forcedLogged = true
		g.s.logf("stream %s: cutting without a keyframe: %s (logged once)", g.s.cfg.Name, why)
	}
}

func (g *segmenter) beginHold(pts uint64) {
	g.holding = true
	g.holdN = 0
	g.holdPTS = pts
	g.scan.Reset(g.video)
}

func (g *segmenter) holdPacket(p []byte, video bool) {
	copy(g.hold[g.holdN][:], p)
	g.holdN++
	if video {
		es := ts.Payload(p)
		if ts.PUSI(p) {
			if g.pes.DataOffset > len(es) {
				es = nil
			} else {
				es = es[g.pes.DataOffset:]
			}
		}
		v := g.scan.Feed(es)
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
	if g.holdN == holdMax {
		g.resolve(ts.NotKeyframe)
	}
}

// resolve ends a hold: on a keyframe the held packets start a new segment,
// otherwise they belong to the current one (or, before the first keyframe,
// nowhere).
func (g *segmenter) resolve(v ts.Verdict) {
	g.holding = false
	n := g.holdN
	g.holdN = 0
	if v == ts.Keyframe {
		if g.state == inSeg {
			g.finish(g.holdPTS)
		}
		g.start(g.holdPTS)
		g.writeHeld(n, true)
		return
	}
	if g.state == inSeg {
		g.writeHeld(n, false)
	}
}

func (g *segmenter) writeHeld(n int, skipPSI bool) {
	for i := 0; i < n; i++ {
		p := g.hold[i][:]
		if skipPSI {
			// The segment already starts with the latest PAT and PMT,
			// which include any held ones.
			if pid := int(ts.PID(p)); pid == ts.PATPID || pid == g.pmtPID {
				continue
			}
		}
		g.write(p)
	}
}

// cut finishes the current segment at pts and starts the next there.
func (g *segmenter) cut(pts uint64) {
	g.finish(pts)
	g.start(pts)
}

// endPTS estimates where the current segment's media ends when no next
// segment tells: its last timestamp plus one frame.
func (g *segmenter) endPTS() uint64 {
	return (g.maxPTS + g.delta) & (ts.PTSWrap - 1)
}

// start opens a segment at pts and writes the latest PAT and PMT into it.
func (g *segmenter) start(pts uint64) {
	seg := &Segment{MSN: g.msn, startPTS: pts}
	g.msn++
	if g.disc && g.last != nil {
		seg.Discontinuity = true
		g.s.c.discontinuities.Add(1)
	}
	g.disc = false
	// EXT-X-PROGRAM-DATE-TIME follows the media timeline from the previous
	// segment, slewed toward the arrival clock by at most pdtSlew a segment:
	// players see a continuous timeline, and a source clock that drifts (or
	// a sender that lags) moves PDT back toward real time slowly. After a
	// discontinuity the clock is taken as it is.
	seg.Start = g.now
	if l := g.last; l != nil && !seg.Discontinuity {
		t := l.Start.Add(l.Duration)
		seg.Start = t.Add(max(-pdtSlew, min(pdtSlew, g.now.Sub(t))))
	}
	if l := g.last; l != nil && !seg.Start.After(l.Start) {
		seg.Start = l.Start.Add(time.Millisecond)
	}
	g.cur = seg
	g.curWall = g.now
	g.waiting = false
	g.maxPTS = pts
	g.state = inSeg
	for i := 0; i < g.pat.n; i++ {
		g.write(g.pat.pkts[i][:])
	}
	for i := 0; i < g.pmt.n; i++ {
		g.write(g.pmt.pkts[i][:])
	}
	g.headerLen, g.pesOff = seg.wr, 0
	if g.last != nil {
		g.last.next.Store(seg)
	}
	g.s.live.Store(seg)
}

// finish closes the current segment, media ending at end, and publishes it.
func (g *segmenter) finish(end uint64) {
	seg := g.cur
	if seg == nil {
		return
	}
	g.cur = nil
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
	seg.Name = segmentName(seg.Start, dur)
	seg.size.Store(seg.wr)
	seg.done.Store(true)
	g.last = seg
	g.segs = append(g.segs, seg)
	if r := int((dur + time.Second/2) / time.Second); r > g.target {
		g.target = r
	}
	g.expire()
	g.s.c.segments.Add(1)
	g.publish()
	if !g.published {
		g.published = true
		close(*g.s.ready.Load())
	}
}

// window is the index in segs of the first segment the playlist lists: the
// last segment_count, more when needed to cover three target durations
// (RFC 8216 §6.2.2), but never one that an earlier playlist had already
// dropped, so EXT-X-MEDIA-SEQUENCE never goes back.
func (g *segmenter) window() int {
	n := len(g.segs)
	first := max(n-g.s.cfg.SegmentCount, 0)
	for first < n && g.segs[first].MSN < g.firstMSN {
		first++
	}
	var total time.Duration
	for i := first; i < n; i++ {
		total += g.segs[i].Duration
	}
	for first > 0 && total < 3*time.Duration(g.target)*time.Second && g.segs[first-1].MSN >= g.firstMSN {
		first--
		total += g.segs[first].Duration
	}
	return first
}

// expire moves the window on and releases the segments whose time is up.
// RFC 8216 §6.2.2: a segment that leaves the playlist stays available for
// its duration plus the duration of the playlist that last listed it.
func (g *segmenter) expire() {
	first := g.window()
	if first < len(g.segs) {
		g.firstMSN = g.segs[first].MSN
	}
	var listed time.Duration
	for _, s := range g.segs[first:] {
		listed += s.Duration
	}
	for _, s := range g.segs[first:] {
		s.longest = max(s.longest, listed)
	}
	for _, s := range g.segs[:first] {
		if s.expires.IsZero() {
			s.expires = g.now.Add(s.Duration + s.longest)
		}
	}
	for len(g.segs) > 0 && g.segs[0].MSN < g.firstMSN &&
		(!g.now.Before(g.segs[0].expires) || len(g.segs) > g.maxKeep) {
		g.release(0)
	}
}

// release returns segs[i]'s chunks to the pool and forgets it. Readers still
// sending it notice through the chunk generations.
func (g *segmenter) release(i int) {
	seg := g.segs[i]
	if seg.Discontinuity {
		g.discGone++
	}
	n := int(seg.nref.Load())
	for j := 0; j < n; j++ {
		g.s.pool.put(seg.refs[j].c)
	}
	copy(g.segs[i:], g.segs[i+1:])
	g.segs[len(g.segs)-1] = nil
	g.segs = g.segs[:len(g.segs)-1]
}

// write appends one packet to the current segment.
func (g *segmenter) write(p []byte) {
	seg := g.cur
	off := seg.wr % ChunkSize
	ci := int(seg.wr / ChunkSize)
	if off == 0 {
		if ci == maxChunks {
			g.s.c.dropped.Add(1)
			return
		}
		c := g.chunk()
		if c == nil {
			g.s.c.dropped.Add(1)
			return
		}
		seg.refs[ci] = chunkRef{c: c, gen: c.gen.Load()}
		seg.nref.Store(int32(ci + 1))
	}
	pid := ts.PID(p)
	if int(pid) == g.primaryPID && ts.PUSI(p) {
		g.pesOff, g.pesPTS = seg.wr, g.pes.PTS // where the last access unit starts
	}
	q := seg.refs[ci].c.buf[off : off+ts.PacketSize]
	copy(q, p)
	seg.wr += ts.PacketSize
	g.continuity(q, pid)
}

// continuity keeps the output's continuity counters running across a
// change of source (a restart, a failover): the first packet of each PID
// from the new source fixes a shift that carries its counter on from the
// last one written, and later packets of that source get the same shift.
// Without it every player sees a continuity error at the switch and flags
// the first frames of the new source corrupt. Within one source nothing is
// renumbered, so real losses stay visible downstream.
func (g *segmenter) continuity(q []byte, pid uint16) {
	cc := q[3] & 0x0F
	if g.ccFresh.has(pid) {
		g.ccFresh.clear(pid)
		g.ccShift[pid] = 0
		if g.ccSeen.has(pid) {
			want := g.ccOut[pid]
			if ts.HasPayload(q) {
				want++
			}
			g.ccShift[pid] = (want - cc) & 0x0F
		}
	}
	if sh := g.ccShift[pid]; sh != 0 {
		cc = (cc + sh) & 0x0F
		q[3] = q[3]&0xF0 | cc
	}
	g.ccOut[pid] = cc
	g.ccSeen.add(pid)
}

// chunk takes a chunk from the pool; when it is empty, the stream gives up
// its own oldest segment that no playlist lists any more.
func (g *segmenter) chunk() *chunk {
	if c := g.s.pool.get(); c != nil {
		return c
	}
	// Under pressure a segment no playlist lists any more goes before its
	// time: better a late fetch answering 404 than live packets lost.
	if len(g.segs) > 0 && g.segs[0].MSN < g.firstMSN {
		g.release(0)
		g.publish()
		return g.s.pool.get()
	}
	return nil
}

// sourceLost runs when the source has been silent for its timeout: the
// current segment ends where its media ended, and the stream waits for the
// source to come back, flagged as a discontinuity.
//
// The segment ends before the last access unit of the primary PID: a source
// that stops, or that the stream leaves for another input, is cut mid-PES,
// and a torn last frame would be a decoding error in every player.
func (g *segmenter) sourceLost() {
	if g.holding {
		g.resolve(ts.NotKeyframe)
	}
	if seg := g.cur; seg != nil {
		end := g.endPTS()
		if g.pesOff > g.headerLen && g.pesOff < seg.wr {
			seg.wr = g.pesOff
			end = g.pesPTS
		}
		g.finish(end)
	}
	g.resetSource()
	g.disc = true
}

// stop returns all the stream's memory to the pool.
func (g *segmenter) stop() {
	if g.cur != nil {
		g.cur.size.Store(g.cur.wr)
		g.cur.done.Store(true)
		g.segs = append(g.segs, g.cur)
		g.cur = nil
	}
	for len(g.segs) > 0 {
		g.release(0)
	}
}
