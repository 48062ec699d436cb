package ts

import "time"

// Indicator is one of the ETSI TR 101 290 (v1.4.1) measurements of section
// 5.2 that Health counts.
type Indicator uint8

// Indicators, first priority (5.2.1) then second priority (5.2.2).
const (
	TSSyncLoss                     Indicator = iota // 1.1
	SyncByteError                                   // 1.2
	PATError2                                       // 1.3.a
	ContinuityCountError                            // 1.4
	PMTError2                                       // 1.5.a
	PIDError                                        // 1.6
	TransportError                                  // 2.1
	CRCError                                        // 2.2
	PCRRepetitionError                              // 2.3.a
	PCRDiscontinuityIndicatorError                  // 2.3.b
	PCRAccuracyError                                // 2.4
	PTSError                                        // 2.5
	NumIndicators
)

var indicatorNames = [NumIndicators]string{
	"TS_sync_loss", "Sync_byte_error", "PAT_error_2", "Continuity_count_error",
	"PMT_error_2", "PID_error", "Transport_error", "CRC_error",
	"PCR_repetition_error", "PCR_discontinuity_indicator_error",
	"PCR_accuracy_error", "PTS_error",
}

// String returns the indicator's name as ETSI TR 101 290 spells it
// ("PAT_error_2").
func (i Indicator) String() string {
	if i < NumIndicators {
		return indicatorNames[i]
	}
	return "unknown"
}

// Priority returns 1 for the indicators of TR 101 290 5.2.1 (necessary for
// decodability) and 2 for those of 5.2.2 (recommended for continuous
// monitoring).
func (i Indicator) Priority() int {
	if i < TransportError {
		return 1
	}
	return 2
}

// Limits of TR 101 290 5.2 and of this implementation.
const (
	// DefaultPIDTimeout is the PID_error period used when
	// Health.PIDTimeout is zero. TR 101 290 leaves it to the user.
	DefaultPIDTimeout = 5 * time.Second
	// MaxPIDStats bounds the per-PID statistics: the first MaxPIDStats
	// distinct PIDs of a stream are counted; later PIDs are checked like
	// the others but not listed by AppendPIDStats.
	MaxPIDStats = 64
	// MaxESPIDs bounds the elementary streams of the monitored program
	// followed for PID_error and PTS_error; streams past it in the PMT are
	// not followed.
	MaxESPIDs = 32

	patPeriod        = int64(500 * time.Millisecond) // 5.2.1 1.3.a
	pmtPeriod        = int64(500 * time.Millisecond) // 5.2.1 1.5.a
	pcrRepetition    = int64(100 * time.Millisecond) // 5.2.2 2.3.a
	pcrDiscontinuity = 100 * 27000                   // 5.2.2 2.3.b: 100 ms in 27 MHz ticks
	ptsPeriod        = int64(700 * time.Millisecond) // 5.2.2 2.5
	syncLossBad      = 2                             // 5.2.1 1.1: corrupted sync bytes that lose sync
	syncRegainGood   = 5                             // 5.2.1 1.1: good sync bytes that regain it

	// silenceGap: a pause in arrivals longer than this is a silent input,
	// not a stream fault; the repetition deadlines (PAT, PMT, PID, PTS)
	// stop while the input is silent. The daemon reports a silent input
	// itself (source down).
	silenceGap = int64(time.Second)

	// PCR_accuracy_error measurement (see pcrAccuracy).
	accuracySettle    = int64(time.Second)           // learning after a (re)start
	accuracyTolerance = int64(10 * time.Millisecond) // allowed earliness beyond the packing
	accuracyPacking   = 7                            // TS packets per UDP datagram (IPTV, RTP)
	accuracyRise      = 10000                        // floor rises by at most 1/accuracyRise of elapsed time (100 ppm)
	accuracyRebase    = 10                           // consecutive early PCRs taken as a step, not jitter
)

// Index bits per PID in Health.index.
const (
	ixStat    = 0x00FF // per-PID statistics slot + 1; 0 unseen, ixNoStat when full
	ixES      = 0x3F00 // elementary stream slot + 1 in the monitored program
	ixPCR     = 0x4000 // the program's PCR PID
	ixPSI     = 0x8000 // PAT, the program's PMT, or a DVB SI PID whose CRC is checked
	ixSpecial = 0xFF00

	ixNoStat = 0xFF
)

// Health measures the ETSI TR 101 290 indicators of one transport stream,
// packet by packet as it is received. It holds fixed arrays (62 KiB),
// allocates nothing per packet (PAT and PMT are parsed, with allocation,
// only when their bytes change) and is not safe for concurrent use. Its zero
// value is ready to use.
//
// The stream's structure is learnt on the fly: the PMT PID of the monitored
// program from the PAT (the first program, or the one chosen with
// SetProgram), its elementary streams and PCR PID from its PMT, again
// whenever either changes. PMT_error_2, PID_error, PTS_error and the PCR
// indicators apply to the monitored program only.
//
// Times are the arrival times of the packets in nanoseconds on a clock that
// does not jump: the monotonic time since some start (time.Since(start)) is
// best; time.Now().UnixNano() works while nobody steps the wall clock (a
// step backwards restarts the PCR measurements, a step forwards looks like
// a late PCR). Take the time after the packets were received, never before
// waiting for them: PCR_accuracy_error relies on packets not being stamped
// earlier than they arrived.
//
// An input that stops for more than a second is silent, not faulty: the
// repetition deadlines of PAT, PMT, PIDs and PTS stop meanwhile, and restart
// where they were when packets come again. PCR_repetition_error still
// counts the late PCR once.
type Health struct {
	// PIDTimeout is how long a PID named in the PMT may be absent before a
	// PID_error (TR 101 290 5.2.1 1.6 leaves the period to the user);
	// zero or less means DefaultPIDTimeout. It is kept by Reset.
	PIDTimeout time.Duration

	counts  [NumIndicators]uint64
	lost    uint64 // packets missing according to continuity gaps
	packets uint64 // packets with a good sync byte

	// Sync (5.2.1 1.1, 1.2).
	badRun, goodRun uint8
	syncLost        bool

	// Arrival bookkeeping. "Stream time" is arrival time minus paused, the
	// total of the silent gaps; the repetition deadlines run on it.
	started     bool
	lastArrival int64
	paused      int64

	// The monitored program: prog reads PAT and PMT; pmtPID is the PMT PID
	// marked in index.
	prog       ProgramTracker
	pmtPID     uint16
	havePMTPID bool
	patDue     int64 // stream time by which the next PAT is due
	pmtDue     int64
	es         [MaxESPIDs]esState
	nes        int
	pcrPID     uint16
	havePCRPID bool

	// PCR (5.2.2 2.3, 2.4).
	havePCR   bool
	lastPCR   uint64
	lastPCRAt int64
	lastPCRN  uint64 // h.packets at the last PCR
	acc       pcrAccuracy

	nstat int
	stats [MaxPIDStats]pidStat

	index [MaxPID + 1]uint16
	cc    ContinuityChecker
	si    [len(siPIDs)]siTable
}

// siTable is the state of one SI PID.
type siTable struct {
	a     SectionAssembler
	known knownSection
}

// knownSection remembers the last section of a PID that passed its CRC
// check: the unchanged repetitions of a table are compared with it, which
// is several times cheaper than computing the CRC again.
type knownSection struct {
	n int
	b [maxPSISection]byte
}

// good reports whether s passes the CRC check (5.2.2 2.2), for a
// long-form section when longForm is set, else for a TOT.
func (k *knownSection) good(s []byte, longForm bool) bool {
	if k.n == len(s) && string(k.b[:k.n]) == string(s) {
		return true
	}
	if longForm && (len(s) < 12 || s[1]&0x80 == 0) || len(s) < 7 || CRC32(s) != 0 {
		return false
	}
	if len(s) <= len(k.b) {
		k.n = copy(k.b[:], s)
	}
	return true
}

// siPIDs are the DVB SI PIDs whose section CRCs count towards CRC_error
// (5.2.2 2.2: CAT, NIT, SDT/BAT, EIT, TOT).
var siPIDs = [...]uint16{0x0001, 0x0010, 0x0011, 0x0012, 0x0014}

// esState follows one elementary stream of the monitored program.
type esState struct {
	pid    uint16
	codec  Codec
	pts    bool  // PTS_error applies: audio or video
	pidDue int64 // stream time by which the next packet is due
	ptsDue int64 // stream time by which the next PTS is due
}

type pidStat struct {
	packets, lost uint64
	pid           uint16
}

// PIDStat is the packet count of one PID, for the stats view.
type PIDStat struct {
	PID     uint16
	Packets uint64 // packets received (good sync byte, TEI not set)
	Lost    uint64 // packets missing according to continuity gaps
	Codec   Codec  // from the monitored program's PMT; CodecUnknown otherwise
}

// Reset forgets the stream, as after a change of source. PIDTimeout and the
// program chosen with SetProgram are kept.
func (h *Health) Reset() {
	timeout, program, pids := h.PIDTimeout, h.prog.program, h.prog.pids
	*h = Health{}
	h.PIDTimeout, h.prog.program, h.prog.pids = timeout, program, pids
}

// NewSource forgets everything learnt about the stream (tables, continuity,
// PCR and PTS timing, per-PID figures) but keeps the counts: for a switch to
// another input, whose counters and clocks owe nothing to the last one's.
func (h *Health) NewSource() {
	counts, lost, packets := h.counts, h.lost, h.packets
	h.Reset()
	h.counts, h.lost, h.packets = counts, lost, packets
}

// SetProgram chooses the program (program_number) to monitor in a multi
// program stream; 0 chooses the first program of the PAT. The PAT is
// re-read at its next occurrence.
func (h *Health) SetProgram(number uint16) {
	if number == h.prog.program {
		return
	}
	h.prog.SetProgram(number)
	h.programChanged(0)
}

// SetPIDs chooses the monitored program by its PMT PID when no number is
// chosen (ProgramTracker.SetPIDs).
func (h *Health) SetPIDs(pids []uint16) {
	h.prog.SetPIDs(pids)
	h.programChanged(0)
}

// Count returns how many times indicator i was raised.
func (h *Health) Count(i Indicator) uint64 {
	if i >= NumIndicators {
		return 0
	}
	return h.counts[i]
}

// Counts returns every indicator's count, indexed by Indicator.
func (h *Health) Counts() [NumIndicators]uint64 {
	return h.counts
}

// Lost returns the total of TS packets lost according to continuity gaps,
// summed over all PIDs as ContinuityChecker reports them (a gap hides
// multiples of 16 lost packets).
func (h *Health) Lost() uint64 {
	return h.lost
}

// AppendPIDStats appends the statistics of the first MaxPIDStats distinct
// PIDs seen, in order of first appearance, to dst.
func (h *Health) AppendPIDStats(dst []PIDStat) []PIDStat {
	for i := range h.nstat {
		s := &h.stats[i]
		st := PIDStat{PID: s.pid, Packets: s.packets, Lost: s.lost}
		if e := h.index[s.pid] & ixES >> 8; e != 0 {
			st.Codec = h.es[e-1].codec
		}
		dst = append(dst, st)
	}
	return dst
}

// Packet accounts for one 188-byte packet slot as received (its sync byte
// may be wrong) that arrived at now (nanoseconds). p must hold at least
// PacketSize bytes; it is not retained.
func (h *Health) Packet(p []byte, now int64) {
	p = p[:PacketSize]
	// 5.2.1 1.2 Sync_byte_error: a sync byte not equal to 0x47. Nothing
	// else of such a packet can be trusted.
	if p[0] != SyncByte {
		h.badSync()
		return
	}
	if h.badRun != 0 || h.syncLost {
		h.goodSync()
	}
	if !h.started {
		h.start(now)
	} else if d := now - h.lastArrival; d > silenceGap || d < 0 {
		h.arrivalGap(d)
	}
	h.lastArrival = now
	h.packets++
	// 5.2.2 2.1 Transport_error: transport_error_indicator set. The header
	// cannot be trusted, so the packet is not checked further (a missing
	// packet shows up at the next good one of its PID).
	if TEI(p) {
		h.counts[TransportError]++
		return
	}
	pid := PID(p)
	// 5.2.1 1.4 Continuity_count_error: incorrect packet order, a packet
	// occurring more than twice, or a lost packet, as ContinuityChecker.
	e, l := h.cc.Check(p)
	h.counts[ContinuityCountError] += uint64(e)
	h.lost += uint64(l)
	ix := h.index[pid]
	if ix&ixStat == 0 {
		ix = h.newPID(pid)
	}
	if s := int(ix&ixStat) - 1; s < MaxPIDStats {
		h.stats[s].packets++
		h.stats[s].lost += uint64(l)
	}
	if ix&ixSpecial != 0 {
		h.special(p, pid, ix, now)
	}
}

// Tick evaluates the repetition indicators (PAT_error_2, PMT_error_2,
// PID_error, PTS_error) at now. A deadline counts as missed once packets of
// the stream have arrived after it, so the evaluation time is the earlier of
// now and the last arrival: an input that goes silent raises none of them.
// Each full period a table, PID or PTS stays missing counts once. Tick
// costs a few nanoseconds per elementary stream; calling it with every
// received batch is fine, and so is a few times a second (the counts do not
// depend on how often it runs).
func (h *Health) Tick(now int64) {
	if !h.started {
		return
	}
	t := min(now, h.lastArrival) - h.paused
	h.counts[PATError2] += overdue(&h.patDue, t, patPeriod)
	if h.havePMTPID {
		h.counts[PMTError2] += overdue(&h.pmtDue, t, pmtPeriod)
	}
	timeout := h.pidTimeout()
	for i := range h.nes {
		es := &h.es[i]
		h.counts[PIDError] += overdue(&es.pidDue, t, timeout)
		if es.pts {
			h.counts[PTSError] += overdue(&es.ptsDue, t, ptsPeriod)
		}
	}
}

// overdue returns how many periods have passed since *due at t (t later
// than *due counts; t equal to it does not) and moves *due past them.
func overdue(due *int64, t, period int64) uint64 {
	if t <= *due {
		return 0
	}
	n := (uint64(t)-uint64(*due)-1)/uint64(period) + 1
	*due += int64(n) * period
	return n
}

func (h *Health) pidTimeout() int64 {
	if h.PIDTimeout <= 0 {
		return int64(DefaultPIDTimeout)
	}
	return int64(h.PIDTimeout)
}

// badSync accounts for a packet whose sync byte is wrong.
func (h *Health) badSync() {
	h.counts[SyncByteError]++
	h.goodRun = 0
	if h.badRun < syncLossBad {
		h.badRun++
	}
	// 5.2.1 1.1 TS_sync_loss: two or more consecutive corrupted sync
	// bytes lose sync; counted once per loss.
	if h.badRun >= syncLossBad && !h.syncLost {
		h.syncLost = true
		h.counts[TSSyncLoss]++
	}
}

// goodSync accounts for a good sync byte after bad ones: 5.2.1 1.1, sync is
// regained after five consecutive good sync bytes.
func (h *Health) goodSync() {
	h.badRun = 0
	if h.syncLost {
		if h.goodRun++; h.goodRun >= syncRegainGood {
			h.syncLost, h.goodRun = false, 0
		}
	}
}

// start initialises the zero value at the first packet.
func (h *Health) start(now int64) {
	h.started = true
	for _, pid := range siPIDs {
		h.index[pid] |= ixPSI
	}
	h.index[PATPID] |= ixPSI
	// The PAT is due half a second after the stream starts.
	h.patDue = now + patPeriod
}

// arrivalGap handles a pause of d nanoseconds before this packet (d >
// silenceGap) or a clock that went backwards (d < 0).
func (h *Health) arrivalGap(d int64) {
	if d > 0 {
		// A silent input pauses the repetition deadlines.
		h.paused += d
		h.acc.n = 0
		return
	}
	// The clock went backwards: restart the PCR measurements.
	h.havePCR = false
}

// newPID gives pid a statistics slot, if one is left.
func (h *Health) newPID(pid uint16) uint16 {
	ix := h.index[pid]
	if h.nstat < MaxPIDStats {
		h.stats[h.nstat].pid = pid
		h.nstat++
		ix |= uint16(h.nstat)
	} else {
		ix |= ixNoStat
	}
	h.index[pid] = ix
	return ix
}

// special handles the PIDs the monitor follows: PSI, the program's
// elementary streams and its PCR.
func (h *Health) special(p []byte, pid, ix uint16, now int64) {
	t := now - h.paused
	if ix&ixPSI != 0 {
		h.psi(p, pid, t)
	}
	if e := ix & ixES >> 8; e != 0 {
		es := &h.es[e-1]
		// 5.2.1 1.6 PID_error: a PID referred to in the PMT does not occur
		// for PIDTimeout.
		timeout := h.pidTimeout()
		h.counts[PIDError] += overdue(&es.pidDue, t, timeout)
		es.pidDue = t + timeout
		// 5.2.2 2.5 PTS_error: the PTS of an audio or video stream is not
		// repeated at least every 700 ms. A scrambled PES header cannot be
		// read and counts as carrying one.
		if es.pts && PUSI(p) && (p[3]&0xC0 != 0 || hasPTS(p)) {
			h.counts[PTSError] += overdue(&es.ptsDue, t, ptsPeriod)
			es.ptsDue = t + ptsPeriod
		}
	}
	if ix&ixPCR != 0 {
		h.pcr(p, now)
	}
}

func hasPTS(p []byte) bool {
	var ph PESHeader
	return ParsePESHeader(Payload(p), &ph) == nil && ph.HasPTS
}

// psi handles a packet of the PAT, the program's PMT or an SI PID; t is
// stream time.
func (h *Health) psi(p []byte, pid uint16, t int64) {
	scrambled := p[3]&0xC0 != 0
	switch {
	case pid == PATPID:
		// 5.2.1 1.3.a PAT_error_2: scrambling_control not 00 on PID 0.
		if scrambled {
			h.counts[PATError2]++
			return
		}
		r := h.prog.PAT(p)
		// 5.2.1 1.3.a PAT_error_2: a section with table_id other than 0x00
		// on PID 0 (not CRC-checked); 5.2.2 2.2 CRC_error.
		h.counts[PATError2] += uint64(r.WrongID)
		h.counts[CRCError] += uint64(r.BadCRC)
		if r.Good > 0 {
			// 5.2.1 1.3.a PAT_error_2: sections with table_id 0x00 do not
			// occur at least every 0.5 s on PID 0. Only a section with a
			// good CRC counts as an occurrence.
			h.counts[PATError2] += overdue(&h.patDue, t, patPeriod)
			h.patDue = t + patPeriod
		}
		if r.Changed {
			h.programChanged(t)
		}
	case h.havePMTPID && pid == h.pmtPID:
		// 5.2.1 1.5.a PMT_error_2: scrambling_control not 00 on a PMT PID.
		if scrambled {
			h.counts[PMTError2]++
			return
		}
		r := h.prog.PMT(p)
		// 5.2.1 1.5.a PMT_error_2: a section with table_id other than 0x02
		// on a PMT PID (not CRC-checked); 5.2.2 2.2 CRC_error.
		h.counts[PMTError2] += uint64(r.WrongID)
		h.counts[CRCError] += uint64(r.BadCRC)
		if r.Good > 0 {
			// 5.2.1 1.5.a PMT_error_2: sections with table_id 0x02 do not
			// occur at least every 0.5 s on the PMT PID.
			h.counts[PMTError2] += overdue(&h.pmtDue, t, pmtPeriod)
			h.pmtDue = t + pmtPeriod
		}
		if r.Changed {
			h.setStreams(h.prog.Streams(), h.prog.PCRPID(), t)
		}
	default:
		if scrambled {
			return
		}
		si := h.siTable(pid)
		if si == nil {
			return
		}
		for s, ok := si.a.Push(p); ok; s, ok = si.a.Next() {
			// 5.2.2 2.2 CRC_error in CAT, NIT, SDT, BAT, EIT or TOT: every
			// long-form section, and the TOT, carries a CRC32.
			if long := s[1]&0x80 != 0; (long || s[0] == 0x73) && !si.known.good(s, long) {
				h.counts[CRCError]++
			}
		}
	}
}

func (h *Health) siTable(pid uint16) *siTable {
	for i, p := range siPIDs {
		if p == pid {
			return &h.si[i]
		}
	}
	return nil
}

// programChanged follows the tracker's new PMT PID (or none) from stream
// time t: the old PID leaves the index, the new one's PMT is due half a
// second after the PAT naming it, and the streams are forgotten until it
// comes.
func (h *Health) programChanged(t int64) {
	if h.havePMTPID && h.pmtPID != PATPID && h.siTable(h.pmtPID) == nil {
		h.index[h.pmtPID] &^= ixPSI
	}
	h.pmtPID, h.havePMTPID = h.prog.PMTPID()
	h.setStreams(nil, NullPID, 0)
	if h.havePMTPID {
		h.index[h.pmtPID] |= ixPSI
		h.pmtDue = t + pmtPeriod
	}
}

// setStreams replaces the followed elementary streams and PCR PID. Streams
// that stay keep their deadlines; new ones are due from t.
func (h *Health) setStreams(streams []PMTStream, pcrPID uint16, t int64) {
	old, nold := h.es, h.nes
	for i := range nold {
		h.index[old[i].pid] &^= ixES
	}
	h.nes = 0
	timeout := h.pidTimeout()
	for _, s := range streams {
		if h.nes == MaxESPIDs {
			break
		}
		if s.PID > MaxPID || h.index[s.PID]&ixES != 0 {
			continue // a PID listed twice
		}
		es := esState{pid: s.PID, codec: s.Codec, pts: s.Codec.IsVideo() || s.Codec.IsAudio(),
			pidDue: t + timeout, ptsDue: t + ptsPeriod}
		for i := range nold {
			if o := &old[i]; o.pid == s.PID {
				es.pidDue = o.pidDue
				if o.pts {
					es.ptsDue = o.ptsDue
				}
			}
		}
		h.es[h.nes] = es
		h.nes++
		h.index[s.PID] |= uint16(h.nes) << 8
	}
	havePCR := pcrPID < NullPID
	if havePCR == h.havePCRPID && pcrPID == h.pcrPID {
		return
	}
	if h.havePCRPID {
		h.index[h.pcrPID] &^= ixPCR
	}
	h.pcrPID, h.havePCRPID, h.havePCR = pcrPID, havePCR, false
	if havePCR {
		h.index[pcrPID] |= ixPCR
	}
}

// pcr checks a packet of the PCR PID.
func (h *Health) pcr(p []byte, now int64) {
	v, ok := PCR(p)
	if !ok {
		return
	}
	n := h.packets
	if !h.havePCR {
		h.havePCR = true
		h.acc.n = 0
	} else {
		// 5.2.2 2.3.a PCR_repetition_error: more than 100 ms between two
		// consecutive PCRs, measured on arrival. (DVB recommends 40 ms;
		// TR 101 290 v1.4.1 sets the error at 100 ms.)
		if now-h.lastPCRAt > pcrRepetition {
			h.counts[PCRRepetitionError]++
		}
		d := PCRDiff(v, h.lastPCR)
		switch {
		case DiscontinuityIndicator(p):
			h.acc.n = 0 // a new time base
		case d < 0 || d > pcrDiscontinuity:
			// 5.2.2 2.3.b PCR_discontinuity_indicator_error: the
			// difference between two consecutive PCR values is outside
			// 0...100 ms without the discontinuity_indicator set.
			h.counts[PCRDiscontinuityIndicatorError]++
			h.acc.n = 0
		case h.acc.n == 0:
			h.acc.reset(now)
		default:
			if h.acc.check(now, d, n-h.lastPCRN) {
				h.counts[PCRAccuracyError]++
			}
		}
	}
	h.lastPCR, h.lastPCRAt, h.lastPCRN = v, now, n
}

// pcrAccuracy measures 5.2.2 2.4 PCR_accuracy_error the way a software
// receiver can.
//
// The standard asks for the PCR to be within ±500 ns of the value its byte
// position implies in a constant-bitrate multiplex. That needs a hardware
// timestamp on every packet and a CBR mux; a receiver reading UDP datagrams
// in batches, stamped by time.Now(), sees milliseconds of jitter from the
// network, the kernel and its own scheduling, and the datagrams themselves
// pack seven TS packets that all arrive at once.
//
// What is measured instead is the PCR against the arrival clock: for each
// PCR, offset = arrival time - PCR time (both in ns, relative to the first
// PCR). Delays on the way (network queues, a late receiver, batching) only
// ever make the offset larger. So the measure keeps a floor, the lowest
// offset seen, and a PCR whose offset lies below the floor by more than the
// tolerance arrived earlier than its value allows: its value is too large
// for when it was sent, by more than the tolerance. That is the error
// counted. A PCR that is too small cannot be told apart from network delay
// and is not counted.
//
// The tolerance is accuracyTolerance (10 ms) plus the time of
// accuracyPacking (7) TS packets at the sender's pace (PCR advance per
// packet, the slower of the last two PCR intervals): a sender sends a
// datagram when its first packet is due, so a PCR later in the datagram
// leaves up to six packet times early. At 1 Mbit/s that adds 10 ms, at
// 128 kbit/s 80 ms. The floor
// follows clock drift between sender and receiver: it drops with any lower
// offset that is not an error and rises by at most 100 ppm of the elapsed
// time (sender clocks are within 30 ppm of 27 MHz; faster drift only makes
// the measure less sensitive, never raise false errors). Errors do not move
// the floor, except that accuracyRebase early PCRs in a row are taken as a
// step in the path's delay and the floor moves to them. The first second
// after a (re)start only learns the floor; a discontinuity (with or without
// the indicator), a silent input, a clock going backwards and a change of
// PCR PID restart it.
//
// A well-paced stream received on time or late can therefore never raise
// it; a sender whose PCRs jitter or drift by more than about 10 ms can.
type pcrAccuracy struct {
	n      int   // PCRs since the restart; 0 means restart at the next PCR
	start  int64 // arrival of the restart PCR
	last   int64 // arrival of the last PCR
	off    int64 // arrival minus PCR time, ns
	rem    int64 // PCR ticks*1000 not yet converted to ns (below 27)
	floor  int64
	run    int   // consecutive early PCRs
	runMin int64 // lowest offset in the run
	dur    int64 // ns per packet over the last PCR interval (sender's pace)
}

func (a *pcrAccuracy) reset(now int64) {
	*a = pcrAccuracy{n: 1, start: now, last: now}
}

// check accounts for a PCR d ticks after the previous one, arriving at now
// with pk packets since the previous PCR, and reports an accuracy error.
func (a *pcrAccuracy) check(now, d int64, pk uint64) bool {
	a.n++
	x := d*1000 + a.rem
	ns := x / 27
	a.rem = x % 27
	dt := now - a.last
	a.last = now
	a.off += dt - ns
	if dt > 0 {
		a.floor += dt / accuracyRise
	}
	dur := a.dur
	if pk > 0 {
		a.dur = ns / int64(pk)
	}
	dur = max(dur, a.dur)
	if now-a.start < accuracySettle || a.off >= a.floor-accuracyTolerance-accuracyPacking*dur {
		a.floor = min(a.floor, a.off)
		a.run = 0
		return false
	}
	if a.run == 0 || a.off < a.runMin {
		a.runMin = a.off
	}
	if a.run++; a.run >= accuracyRebase {
		a.floor, a.run = a.runMin, 0
	}
	return true
}
