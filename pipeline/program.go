package pipeline

import "github.com/slabcast/slabcast/ts"

// program is what the segmenter knows of its input's program: the tracker
// that reads PAT and PMT (ts.ProgramTracker, the same one the health monitor
// uses), the raw packets of the latest complete PAT and PMT, which every
// segment starts with, and the PIDs a segment stores. A multi-program input
// (MPTS) gets a PAT of the segmenter's own naming only the selected program,
// so that every segment holds one program.
type program struct {
	t              ts.ProgramTracker
	want           int    // program= of the input; 0 = the first in the PAT
	only           pidSet // pids= of the input: the PIDs to take
	haveOnly       bool
	pmtPID         int     // -1 until the PAT names the program
	patRaw, pmtRaw psiCopy // packets of the section being received
	pat, pmt       psiCopy // of the latest complete one
	pids           pidSet  // elementary and PCR PIDs of the program
	layoutKnown    bool    // a PMT has set video and primary below
	video          ts.Codec
	videoPID       int // -1 when the program has no video
	primaryPID     int // video, else the first audio PID; its timestamps time the cuts
	pcrPID         int // -1 when the program has none: its PCRs place the media clock
	mpts           bool
	patOut         []byte // PAT section naming only the selected program
	patCC          uint8
	filtering      bool   // pids= keeps some of the program's streams: the PMT is rewritten
	pmtOut         []byte // that PMT section, and its packets
	pmtPkts        []byte
	pmtCC          uint8
	missingLogged  bool // the PAT's lack of the program was logged
}

const psiMax = 6 // packets kept of the latest PAT and of the latest PMT: a 1024-byte section

type psiCopy struct {
	pkts [psiMax][ts.PacketSize]byte
	n    int
}

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

func (pr *program) init(want int, pids []uint16) {
	pr.want = want
	pr.pcrPID = -1
	pr.t.SetProgram(uint16(want))
	pr.t.SetPIDs(pids)
	for _, pid := range pids {
		pr.only.add(pid)
	}
	pr.haveOnly = len(pids) > 0
	pr.patOut = make([]byte, 0, 64)
	pr.pmtOut = make([]byte, 0, 1024)
	pr.pmtPkts = make([]byte, 0, psiMax*ts.PacketSize)
	pr.reset()
}

// reset forgets everything learnt from the source.
func (pr *program) reset() {
	pr.t.Reset()
	pr.patRaw.n, pr.pmtRaw.n, pr.pat.n, pr.pmt.n = 0, 0, 0, 0
	pr.forgetPMT()
	pr.pmtPID = -1
	pr.mpts = false
}

func (pr *program) forgetPMT() {
	pr.pmtRaw.n, pr.pmt.n = 0, 0
	pr.pids = pidSet{}
	pr.layoutKnown = false
	pr.filtering = false
	pr.videoPID, pr.primaryPID, pr.pcrPID = -1, -1, -1
}

// stores reports whether packets of pid belong to the program's segments.
func (pr *program) stores(pid uint16) bool {
	return pid != ts.NullPID && (pid == ts.PATPID || int(pid) == pr.pmtPID || pr.pids.has(pid))
}

// onPAT follows a PAT packet. It returns the packet to store in its place
// (the packet itself for a single-program input; nothing, or a PAT of its
// own naming only the selected program, for an MPTS) and whether the
// program's PMT PID changed; missing says the PAT lacks the program.
func (pr *program) onPAT(p []byte) (out []byte, moved, missing bool) {
	collect(&pr.patRaw, p)
	r := pr.t.PAT(p)
	if r.Changed {
		pid := -1
		if v, ok := pr.t.PMTPID(); ok {
			pid = int(v)
		}
		if pid != pr.pmtPID {
			pr.pmtPID = pid
			pr.forgetPMT()
			moved = true
		}
	}
	if r.Good == 0 { // no complete section, or a bad one (the health monitor counts it)
		if pr.mpts {
			return nil, moved, false
		}
		return p, moved, false
	}
	missing = pr.pmtPID < 0
	pr.mpts = pr.t.Programs() > 1
	if !pr.mpts {
		pr.pat = pr.patRaw
		return p, moved, missing
	}
	if !missing {
		sel := ts.PATProgram{Number: pr.t.Number(), PMTPID: uint16(pr.pmtPID)}
		pr.patOut = ts.AppendPATSection(pr.patOut[:0], pr.t.TransportStreamID(), pr.t.Version(), []ts.PATProgram{sel})
	}
	// One packet of our own: header, pointer_field 0, the section, stuffing.
	var own [ts.PacketSize]byte
	own[0], own[1], own[2], own[3] = ts.SyncByte, 0x40, 0x00, 0x10|pr.patCC&0x0F
	pr.patCC++
	n := copy(own[5:], pr.patOut)
	for i := 5 + n; i < ts.PacketSize; i++ {
		own[i] = 0xFF
	}
	pr.pat.pkts[0] = own
	pr.pat.n = 1
	return pr.pat.pkts[0][:], moved, missing
}

// onPMT follows a packet of the program's PMT PID. relaid reports a new
// layout (another video or primary PID) of a program whose layout was
// known.
func (pr *program) onPMT(p []byte) (relaid bool) {
	collect(&pr.pmtRaw, p)
	r := pr.t.PMT(p)
	if r.Changed {
		pcr := pr.t.PCRPID()
		pr.pids = pidSet{}
		pr.pids.add(pcr)
		pr.pcrPID = -1
		if pcr != ts.NullPID {
			pr.pcrPID = int(pcr)
		}
		// pids= that names streams of the program keeps only those; one
		// that names none of them (only the PMT PID, say) keeps them all.
		filter := false
		for _, es := range pr.t.Streams() {
			filter = filter || pr.haveOnly && pr.only.has(es.PID)
		}
		video, primary, codec := -1, -1, ts.CodecUnknown
		for _, es := range pr.t.Streams() {
			if filter && !pr.only.has(es.PID) {
				continue
			}
			pr.pids.add(es.PID)
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
		relaid = pr.layoutKnown && (video != pr.videoPID || primary != pr.primaryPID)
		pr.videoPID, pr.primaryPID, pr.video = video, primary, codec
		pr.layoutKnown = true
		pr.filtering = filter
	}
	switch {
	case r.Good > 0 && pr.filtering:
		pr.ownPMT()
	case r.Good > 0:
		pr.pmt = pr.pmtRaw
	}
	return relaid
}

// ownPMT makes the PMT a segment starts with when pids= keeps only some of
// the program's streams: the program's PMT listing those alone, so players
// do not wait for streams that never come.
func (pr *program) ownPMT() {
	sec := pr.t.PMTSection()
	if sec == nil {
		return
	}
	pr.pmtOut = ts.AppendPMTStreams(pr.pmtOut[:0], sec, pr.pids.has)
	pr.pmtPkts = ts.AppendSectionPackets(pr.pmtPkts[:0], uint16(pr.pmtPID), pr.pmtCC, pr.pmtOut)
	pr.pmt.n = 0
	for off := 0; off+ts.PacketSize <= len(pr.pmtPkts) && pr.pmt.n < psiMax; off += ts.PacketSize {
		copy(pr.pmt.pkts[pr.pmt.n][:], pr.pmtPkts[off:])
		pr.pmt.n++
		pr.pmtCC++
	}
}

// ready reports whether segments can start: the PAT and PMT are known and
// the program has a stream to time cuts by.
func (pr *program) ready() bool { return pr.pat.n > 0 && pr.primaryPID >= 0 }

// collect keeps the raw packets of the PSI section being received.
func collect(c *psiCopy, p []byte) {
	if ts.PUSI(p) {
		c.n = 0
	}
	if c.n < psiMax {
		copy(c.pkts[c.n][:], p)
		c.n++
	}
}
