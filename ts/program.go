package ts

// ProgramTracker follows one program of a transport stream through its PAT
// and PMT: the PID of the program's PMT, its elementary streams and its PCR
// PID. It is the one place slabcast reads PSI on the receive path; the
// health monitor and the segmenter each keep one.
//
// It assembles the sections of the packets it is given, every section a
// packet completes (a packet may end one section and hold more), checks
// each section's table_id and CRC, and parses a table with go-astits only
// when its bytes change, so unchanged repetitions cost a comparison. It
// holds fixed buffers (about 12 KiB) and allocates only when a table
// changes. Its zero value follows the first program of the PAT; it is not
// safe for concurrent use.
type ProgramTracker struct {
	program uint16   // chosen with SetProgram; 0 for the first in the PAT
	pids    []uint16 // chosen with SetPIDs: a program whose PMT PID is among them

	pat, pmt           SectionAssembler
	patKnown, pmtKnown knownSection
	// The last PAT section parsed, by section_number&3: its CRC and what it
	// said about the program.
	patCRC    [4]uint32
	patParsed uint8 // bit k: patCRC[k] is valid
	progs     [4]uint16
	tsid      uint16
	version   uint8

	number     uint16 // program_number followed
	pmtPID     uint16
	havePMTPID bool
	pmtCRC     uint32
	pmtParsed  bool
	pcrPID     uint16
	streams    []PMTStream // of the last parsed PMT; nil until one was
	pmtSec     [maxPSISection]byte
	pmtLen     int // bytes of the program's last good PMT section in pmtSec
}

// PSIResult says what one PAT or PMT packet held.
type PSIResult struct {
	Good    int  // complete sections of the table that passed the checks (for a PMT: the program's own)
	WrongID int  // sections whose table_id is not the table's (PAT_error_2, PMT_error_2)
	BadCRC  int  // sections that failed the CRC check (CRC_error)
	Changed bool // the PMT PID (after a PAT) or the streams and PCR PID (after a PMT) changed
}

// Reset forgets the stream, as after a change of source; the program chosen
// with SetProgram is kept.
func (t *ProgramTracker) Reset() {
	program, pids := t.program, t.pids
	*t = ProgramTracker{program: program, pids: pids}
}

// SetProgram chooses the program (program_number) to follow in a
// multi-program stream; 0 chooses the first program of the PAT. The PAT is
// read again at its next occurrence.
func (t *ProgramTracker) SetProgram(number uint16) {
	if number != t.program {
		t.program = number
		t.Reset()
	}
}

// SetPIDs chooses, when no program number is chosen, the first program
// whose PMT PID is among pids (an input's pids= option names PIDs to take,
// a PMT PID among them its program); without one the first program is
// followed. The tracker keeps pids; the PAT is read again at its next
// occurrence.
func (t *ProgramTracker) SetPIDs(pids []uint16) {
	t.pids = pids
	t.Reset()
}

// PMTPID returns the PID of the followed program's PMT; ok is false while
// no PAT named the program.
func (t *ProgramTracker) PMTPID() (pid uint16, ok bool) { return t.pmtPID, t.havePMTPID }

// Number is the program_number followed, 0 while none is.
func (t *ProgramTracker) Number() uint16 { return t.number }

// Programs is how many programs (other than the NIT) the PAT names.
func (t *ProgramTracker) Programs() int {
	n := 0
	for k := range t.progs {
		if t.patParsed&(1<<k) != 0 {
			n += int(t.progs[k])
		}
	}
	return n
}

// TransportStreamID and Version are those of the last PAT section parsed.
func (t *ProgramTracker) TransportStreamID() uint16 { return t.tsid }
func (t *ProgramTracker) Version() uint8            { return t.version }

// Streams returns the elementary streams of the program's PMT, nil before
// one was parsed. The slice is replaced, not changed, when the PMT changes.
func (t *ProgramTracker) Streams() []PMTStream { return t.streams }

// HavePAT reports whether a PAT has been parsed: with PMTPID not ok, the
// PAT lacks the program.
func (t *ProgramTracker) HavePAT() bool { return t.patParsed != 0 }

// HavePMT reports whether a PMT of the program has been parsed.
func (t *ProgramTracker) HavePMT() bool { return t.streams != nil }

// PMTSection returns the program's last good PMT section, nil before one.
// It is valid until the next call to PMT or Reset.
func (t *ProgramTracker) PMTSection() []byte {
	if t.pmtLen == 0 {
		return nil
	}
	return t.pmtSec[:t.pmtLen]
}

// PCRPID is the PMT's PCR_PID (NullPID when the program has none).
func (t *ProgramTracker) PCRPID() uint16 { return t.pcrPID }

// PAT takes a packet of PID 0. Changed means the followed program's PMT PID
// changed, appeared or went away.
func (t *ProgramTracker) PAT(p []byte) (r PSIResult) {
	for s, ok := t.pat.Push(p); ok; s, ok = t.pat.Next() {
		if s[0] != 0x00 {
			r.WrongID++
			continue
		}
		if !t.patKnown.good(s, true) {
			r.BadCRC++
			continue
		}
		r.Good++
		crc := uint32(s[len(s)-4])<<24 | uint32(s[len(s)-3])<<16 | uint32(s[len(s)-2])<<8 | uint32(s[len(s)-1])
		k := s[6] & 3 // section_number
		if t.patParsed&(1<<k) != 0 && t.patCRC[k] == crc {
			continue
		}
		pat, err := ParsePAT(s)
		if err != nil {
			continue
		}
		t.patCRC[k], t.patParsed = crc, t.patParsed|1<<k
		t.tsid, t.version = pat.TransportStreamID, s[5]>>1&0x1F
		t.progs[k] = 0
		found := false
		sel := t.choose(pat.Programs)
		for _, pg := range pat.Programs {
			if pg.Number == 0 {
				continue // the NIT
			}
			t.progs[k]++
			if !found && (sel == 0 || pg.Number == sel) {
				found = true
				r.Changed = t.follow(pg.Number, pg.PMTPID) || r.Changed
			}
		}
		if !found && s[7] == 0 && t.havePMTPID { // last_section_number: the whole PAT lacks the program
			t.clearProgram()
			r.Changed = true
		}
	}
	return r
}

// choose is the program_number to follow among programs: the one chosen
// with SetProgram, else the first whose PMT PID SetPIDs named, else 0 for
// the first.
func (t *ProgramTracker) choose(programs []PATProgram) uint16 {
	if t.program != 0 || len(t.pids) == 0 {
		return t.program
	}
	for _, pg := range programs {
		for _, pid := range t.pids {
			if pg.Number != 0 && pg.PMTPID == pid {
				return pg.Number
			}
		}
	}
	return 0
}

// follow makes number on pmtPID the program followed; it reports whether
// that changed anything.
func (t *ProgramTracker) follow(number, pmtPID uint16) bool {
	if t.havePMTPID && t.pmtPID == pmtPID && t.number == number {
		return false
	}
	t.clearProgram()
	t.number, t.pmtPID, t.havePMTPID = number, pmtPID, true
	return true
}

func (t *ProgramTracker) clearProgram() {
	t.number, t.pmtPID, t.havePMTPID = 0, 0, false
	t.pmt.Reset()
	t.pmtKnown.n = 0
	t.pmtParsed = false
	t.streams, t.pcrPID = nil, NullPID
	t.pmtLen = 0
}

// PMT takes a packet of the program's PMT PID. Sections of other programs
// sharing the PID are checked (table_id, CRC) but not counted Good.
// Changed means the streams or the PCR PID changed.
func (t *ProgramTracker) PMT(p []byte) (r PSIResult) {
	for s, ok := t.pmt.Push(p); ok; s, ok = t.pmt.Next() {
		if s[0] != 0x02 {
			r.WrongID++
			continue
		}
		if !t.pmtKnown.good(s, true) {
			r.BadCRC++
			continue
		}
		if uint16(s[3])<<8|uint16(s[4]) != t.number {
			continue // another program's PMT sharing the PID
		}
		r.Good++
		if len(s) <= len(t.pmtSec) {
			t.pmtLen = copy(t.pmtSec[:], s)
		}
		crc := uint32(s[len(s)-4])<<24 | uint32(s[len(s)-3])<<16 | uint32(s[len(s)-2])<<8 | uint32(s[len(s)-1])
		if t.pmtParsed && t.pmtCRC == crc {
			continue
		}
		pmt, err := ParsePMT(s)
		if err != nil {
			continue
		}
		t.pmtCRC, t.pmtParsed = crc, true
		if t.streams == nil || !sameStreams(t.streams, pmt.Streams) || t.pcrPID != pmt.PCRPID {
			r.Changed = true
		}
		t.streams, t.pcrPID = pmt.Streams, pmt.PCRPID
		if t.streams == nil {
			t.streams = []PMTStream{} // parsed, with no streams
		}
	}
	return r
}

func sameStreams(a, b []PMTStream) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
