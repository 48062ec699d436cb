package ts

import "testing"

// makePAT builds a PAT section naming programs (number, PMT PID) pairs.
func makePAT(section, last uint8, programs ...uint16) []byte {
	n := 9 + 2*len(programs)
	b := []byte{0x00, 0xB0 | byte(n>>8), byte(n), 0, 1, 0xC1, section, last}
	for i := 0; i < len(programs); i += 2 {
		b = append(b, byte(programs[i]>>8), byte(programs[i]), 0xE0|byte(programs[i+1]>>8), byte(programs[i+1]))
	}
	return appendCRC(b)
}

func TestProgramTracker(t *testing.T) {
	var pt ProgramTracker
	pt.SetProgram(2)
	// One packet ends two PAT sections: program 2 is in the second.
	pkts := packSections(PATPID, 0, [][]byte{makePAT(0, 1, 1, 0x100), makePAT(1, 1, 2, 0x200)}, false)
	if len(pkts) != PacketSize {
		t.Fatalf("%d packets, want both sections in one", len(pkts)/PacketSize)
	}
	r := pt.PAT(pkts)
	if r.Good != 2 || !r.Changed || r.BadCRC != 0 {
		t.Fatalf("PAT: %+v", r)
	}
	if pid, ok := pt.PMTPID(); !ok || pid != 0x200 || pt.Number() != 2 || pt.Programs() != 2 {
		t.Fatalf("PMT PID %#x %v, program %d, %d programs", pid, ok, pt.Number(), pt.Programs())
	}
	// The same PAT again changes nothing.
	if r := pt.PAT(packSections(PATPID, 1, [][]byte{makePAT(0, 1, 1, 0x100), makePAT(1, 1, 2, 0x200)}, false)); r.Changed || r.Good != 2 {
		t.Fatalf("repeated PAT: %+v", r)
	}
	// One PMT packet: program 1's section, then program 2's.
	pmt1 := makePMT(1, 0x101, []testStream{{typ: 0x1B, pid: 0x101}})
	pmt2 := makePMT(2, 0x201, []testStream{{typ: 0x1B, pid: 0x201}, {typ: 0x0F, pid: 0x202}})
	r = pt.PMT(packSections(0x200, 0, [][]byte{pmt1, pmt2}, false))
	if r.Good != 1 || !r.Changed || len(pt.Streams()) != 2 || pt.PCRPID() != 0x201 || pt.Streams()[1].Codec != CodecAAC {
		t.Fatalf("PMT: %+v, streams %+v, PCR %#x", r, pt.Streams(), pt.PCRPID())
	}
	if r := pt.PMT(packSections(0x200, 1, [][]byte{pmt1, pmt2}, false)); r.Changed || r.Good != 1 {
		t.Fatalf("repeated PMT: %+v", r)
	}
	// A bad CRC and a wrong table_id are counted, not taken.
	bad := append([]byte(nil), pmt2...)
	bad[len(bad)-1] ^= 1
	wrong := append([]byte(nil), pmt2...)
	wrong[0] = 0x03
	if r := pt.PMT(packSections(0x200, 2, [][]byte{bad, wrong}, false)); r.BadCRC != 1 || r.WrongID != 1 || r.Good != 0 || r.Changed {
		t.Fatalf("bad PMT sections: %+v", r)
	}
	// A PAT without the program, whole (last_section_number 0): none is followed.
	if r := pt.PAT(packSections(PATPID, 2, [][]byte{makePAT(0, 0, 1, 0x100)}, false)); !r.Changed {
		t.Fatalf("PAT without program 2: %+v", r)
	}
	if _, ok := pt.PMTPID(); ok || pt.HavePMT() || !pt.HavePAT() {
		t.Fatal("still following program 2")
	}
}

func TestProgramTrackerDoesNotAllocate(t *testing.T) {
	var pt ProgramTracker
	pat := packSections(PATPID, 0, [][]byte{makePAT(0, 0, 1, 0x100)}, false)
	pmt := packSections(0x100, 0, [][]byte{makePMT(1, 0x101, []testStream{{typ: 0x1B, pid: 0x101}})}, false)
	pt.PAT(pat)
	pt.PMT(pmt)
	cc := uint8(1)
	if n := testing.AllocsPerRun(100, func() {
		SetCC(pat, cc)
		SetCC(pmt, cc)
		cc++
		pt.PAT(pat)
		pt.PMT(pmt)
	}); n != 0 {
		t.Fatalf("%v allocations per unchanged PAT and PMT", n)
	}
}
