package ts

import (
	"bytes"
	"errors"
	"testing"
)

func TestCRC32(t *testing.T) {
	// The MPEG-2 CRC is CRC-32 non-reflected without final XOR; its check
	// value for "123456789" is 0x0376E6E7 (the CRC-32/MPEG-2 catalogue entry).
	if got := CRC32([]byte("123456789")); got != 0x0376E6E7 {
		t.Fatalf("CRC32(123456789) = %#x, want 0x0376e6e7", got)
	}
	sec := AppendPATSection(nil, 1, 0, []PATProgram{{1, 0x1000}})
	if CRC32(sec) != 0 {
		t.Fatalf("CRC32 over a whole section = %#x, want 0", CRC32(sec))
	}
}

func TestParseClipPSI(t *testing.T) {
	for _, c := range clips {
		data := readClip(t, c.name)
		pat, err := ParsePAT(firstSection(t, data, PATPID))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if pat.TransportStreamID != 1 || len(pat.Programs) != 1 || pat.Programs[0] != (PATProgram{1, 0x1000}) {
			t.Fatalf("%s: PAT %+v", c.name, pat)
		}
		pmt, err := ParsePMT(firstSection(t, data, 0x1000))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := PMT{ProgramNumber: 1, PCRPID: 0x100, Streams: []PMTStream{
			{PID: 0x100, StreamType: c.videoType, Codec: c.video},
			{PID: 0x101, StreamType: c.audioType, Codec: c.audio},
		}}
		if pmt.ProgramNumber != want.ProgramNumber || pmt.PCRPID != want.PCRPID || len(pmt.Streams) != 2 ||
			pmt.Streams[0] != want.Streams[0] || pmt.Streams[1] != want.Streams[1] {
			t.Fatalf("%s: PMT %+v, want %+v", c.name, pmt, want)
		}
		if !pmt.Streams[0].Codec.IsVideo() || pmt.Streams[1].Codec.IsVideo() || !pmt.Streams[1].Codec.IsAudio() {
			t.Fatalf("%s: IsVideo/IsAudio wrong for %v, %v", c.name, pmt.Streams[0].Codec, pmt.Streams[1].Codec)
		}
	}
}

func TestParsePSIErrors(t *testing.T) {
	data := readClip(t, "h264_aac.ts")
	pat := firstSection(t, data, PATPID)
	pmt := firstSection(t, data, 0x1000)
	f := func(name string, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
	corrupt := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i] ^= 0x01
		return b
	}
	_, err := ParsePAT(corrupt(pat, 9))
	f("PAT bit flip", err, ErrCRC)
	_, err = ParsePMT(corrupt(pmt, 13))
	f("PMT bit flip", err, ErrCRC)
	_, err = ParsePAT(pmt)
	f("PMT as PAT", err, ErrBadSection)
	_, err = ParsePMT(pat)
	f("PAT as PMT", err, ErrBadSection)
	_, err = ParsePAT(pat[:len(pat)-1])
	f("truncated PAT", err, ErrBadSection)
	_, err = ParsePAT(nil)
	f("empty", err, ErrBadSection)
	next := append([]byte(nil), pat[:len(pat)-4]...)
	next[5] &^= 1 // current_next_indicator = 0
	next = appendCRC(next)
	_, err = ParsePAT(next)
	f("next PAT", err, ErrNotCurrent)
	// A section with trailing stuffing still parses.
	if _, err := ParsePMT(append(append([]byte(nil), pmt...), 0xFF, 0xFF)); err != nil {
		t.Errorf("PMT with stuffing: %v", err)
	}
}

func appendCRC(b []byte) []byte {
	c := CRC32(b)
	return append(b, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
}

type testStream struct {
	typ  uint8
	pid  uint16
	desc []byte
}

// makePMT builds a PMT section.
func makePMT(program, pcrPID uint16, streams []testStream) []byte {
	var body []byte
	for _, s := range streams {
		body = append(body, s.typ, 0xE0|byte(s.pid>>8), byte(s.pid), 0xF0|byte(len(s.desc)>>8), byte(len(s.desc)))
		body = append(body, s.desc...)
	}
	n := 9 + 4 + len(body)
	b := []byte{0x02, 0xB0 | byte(n>>8), byte(n), byte(program >> 8), byte(program), 0xC1, 0, 0,
		0xE0 | byte(pcrPID>>8), byte(pcrPID), 0xF0, 0}
	b = append(b, body...)
	return appendCRC(b)
}

func TestParsePMTMultiPacket(t *testing.T) {
	// 60 streams with descriptors make a ~600-byte section over 4 packets;
	// stream type 0x06 is refined by its descriptors.
	var streams []testStream
	for i := range 60 {
		s := testStream{typ: 0x1B, pid: uint16(0x200 + i)}
		switch i % 4 {
		case 1:
			s.typ, s.desc = 0x06, []byte{0x6A, 1, 0x00} // AC-3 descriptor
		case 2:
			s.typ, s.desc = 0x06, []byte{0x05, 4, 'E', 'A', 'C', '3'} // registration
		case 3:
			s.typ, s.desc = 0x06, []byte{0x56, 5, 'e', 'n', 'g', 0x09, 0x00} // teletext
		}
		streams = append(streams, s)
	}
	sec := makePMT(7, 0x200, streams)
	var a SectionAssembler
	var got []byte
	pk := appendSectionPackets(nil, 0x1000, 3, sec)
	if len(pk) < 4*PacketSize {
		t.Fatalf("section fits in %d packets", len(pk)/PacketSize)
	}
	packets(pk, func(p []byte) {
		if s, ok := a.Push(p); ok {
			if got != nil {
				t.Fatal("two sections")
			}
			got = append([]byte(nil), s...)
		}
	})
	if !bytes.Equal(got, sec) {
		t.Fatalf("assembled %d bytes, want the %d-byte section", len(got), len(sec))
	}
	pmt, err := ParsePMT(got)
	if err != nil {
		t.Fatal(err)
	}
	if pmt.ProgramNumber != 7 || pmt.PCRPID != 0x200 || len(pmt.Streams) != 60 {
		t.Fatalf("PMT %d streams, program %d, PCR PID 0x%x", len(pmt.Streams), pmt.ProgramNumber, pmt.PCRPID)
	}
	for i, s := range pmt.Streams {
		want := []Codec{CodecH264, CodecAC3, CodecEAC3, CodecPrivateData}[i%4]
		if s.PID != uint16(0x200+i) || s.Codec != want {
			t.Fatalf("stream %d: %+v, want codec %v", i, s, want)
		}
	}
}

// packSections lays sections back to back in the packets of pid, setting
// PUSI and the pointer field where a section starts, with 0xFF stuffing at
// the end. Each section starts a new packet when startFresh is set.
func packSections(pid uint16, cc uint8, sections [][]byte, startFresh bool) []byte {
	var out []byte
	var cur []byte // payload of the packet being filled
	var pusi bool
	var ptrAt int
	flush := func() {
		p := make([]byte, PacketSize)
		p[0], p[1], p[2], p[3] = SyncByte, byte(pid>>8), byte(pid), 0x10|cc&0x0F
		cc++
		if pusi {
			p[1] |= 0x40
		}
		n := copy(p[4:], cur)
		for i := 4 + n; i < PacketSize; i++ {
			p[i] = 0xFF
		}
		out = append(out, p...)
		cur, pusi = cur[:0], false
	}
	for _, s := range sections {
		if startFresh && len(cur) > 0 {
			flush()
		}
		if !pusi {
			if len(cur)+2 > 184 {
				flush()
			}
			// Insert the pointer field at the front of this packet.
			ptrAt = len(cur)
			cur = append([]byte{byte(ptrAt)}, cur...)
			pusi = true
		}
		for len(s) > 0 {
			room := 184 - len(cur)
			n := min(room, len(s))
			cur = append(cur, s[:n]...)
			s = s[n:]
			if len(cur) == 184 {
				flush()
			}
		}
	}
	if len(cur) > 0 || pusi {
		flush()
	}
	return out
}

func TestSectionAssembler(t *testing.T) {
	small := AppendPATSection(nil, 1, 0, []PATProgram{{1, 0x1000}})
	mid := makePMT(1, 0x100, []testStream{{0x1B, 0x100, make([]byte, 150)}, {0x0F, 0x101, nil}})
	big := makePMT(2, 0x100, []testStream{{0x1B, 0x100, make([]byte, 600)}})
	f := func(name string, pk []byte, want ...[]byte) {
		t.Helper()
		var a SectionAssembler
		var got [][]byte
		packets(pk, func(p []byte) {
			for s, ok := a.Push(p); ok; s, ok = a.Next() {
				got = append(got, append([]byte(nil), s...))
			}
		})
		if len(got) != len(want) {
			t.Fatalf("%s: %d sections, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: section %d differs:\n% x\n% x", name, i, got[i], want[i])
			}
		}
	}
	f("one", packSections(0, 0, [][]byte{small}, true), small)
	f("three in one packet", packSections(0, 0, [][]byte{small, small, small}, false), small, small, small)
	f("tail and start in one packet", packSections(0, 0, [][]byte{mid, small, big, mid}, false), mid, small, big, mid)
	f("fresh packets", packSections(0, 14, [][]byte{big, mid, big}, true), big, mid, big)

	// A lost packet drops the section it belonged to, and the next one still
	// comes out.
	pk := packSections(0, 0, [][]byte{big, small}, true)
	lost := append(append([]byte(nil), pk[:PacketSize]...), pk[2*PacketSize:]...)
	f("lost packet", lost, small)

	// A repeated packet is ignored.
	dup := append(append(append([]byte(nil), pk[:2*PacketSize]...), pk[PacketSize:2*PacketSize]...), pk[2*PacketSize:]...)
	f("duplicate packet", dup, big, small)

	// Packets before the first PUSI, with TEI, or without payload yield nothing.
	tail := packSections(0, 0, [][]byte{big}, true)[PacketSize:]
	f("mid-section start", tail)
	tei := packSections(0, 0, [][]byte{small}, true)
	tei[1] |= 0x80
	f("TEI", tei)
	noPayload := packSections(0, 0, [][]byte{small}, true)
	noPayload[3] = noPayload[3]&0xCF | 0x20
	f("no payload", noPayload)
	// A pointer field pointing past the packet.
	bad := packSections(0, 0, [][]byte{small}, true)
	bad[4] = 200
	f("bad pointer", bad)
	// A section_length beyond 4093 cannot be held.
	huge := packet(0xFF, 0x47, 0x40, 0x00, 0x10, 0x00, 0x80, 0xBF, 0xFF)
	f("huge section", huge)

	// A section cannot start in a packet without PUSI: bytes after the end
	// of a section there are not read as a new one.
	noStart := packSections(0, 0, [][]byte{big}, true)
	end := (len(big) + 1) % 184 // where the section ends in the last packet
	copy(noStart[len(noStart)-PacketSize+4+end:], small)
	f("no start without PUSI", noStart, big)

	// Reset forgets a partial section.
	var a SectionAssembler
	a.Push(pk[:PacketSize])
	a.Reset()
	if s, ok := a.Push(pk[PacketSize : 2*PacketSize]); ok {
		t.Fatalf("section after Reset: % x", s)
	}
}

func TestSectionAssemblerDoesNotAllocate(t *testing.T) {
	big := makePMT(2, 0x100, []testStream{{0x1B, 0x100, make([]byte, 600)}})
	small := AppendPATSection(nil, 1, 0, []PATProgram{{1, 0x1000}})
	pk := packSections(0, 0, [][]byte{big, small, small}, false)
	var a SectionAssembler
	n := 0
	allocs := testing.AllocsPerRun(50, func() {
		packets(pk, func(p []byte) {
			for _, ok := a.Push(p); ok; _, ok = a.Next() {
				n++
			}
		})
		a.Reset()
	})
	if allocs != 0 {
		t.Fatalf("SectionAssembler allocates %v times per run", allocs)
	}
	if n == 0 {
		t.Fatal("no sections")
	}
}
