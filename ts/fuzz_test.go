package ts

import (
	"bytes"
	"testing"
)

// FuzzPacket runs every accessor over arbitrary 188-byte packets and checks
// their invariants: nothing panics, Payload lies inside the packet, PCR
// round-trips through SetPCR, and a parsed PES header is consistent.
func FuzzPacket(f *testing.F) {
	f.Add(packet(0xFF, 0x47, 0x41, 0x00, 0x30, 7, 0x50, 1, 2, 3, 4, 0xFE, 5, 0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1))
	f.Add(packet(0xFF, 0x47, 0x1F, 0xFF, 0x10))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p [PacketSize]byte
		copy(p[:], data)
		pkt := p[:]
		_ = PID(pkt) + uint16(CC(pkt))
		_ = PUSI(pkt) || TEI(pkt) || HasPayload(pkt) || HasAdaptation(pkt) || DiscontinuityIndicator(pkt) || RandomAccessIndicator(pkt)
		pl := Payload(pkt)
		if len(pl) > 0 {
			if !HasPayload(pkt) || len(pl) > PacketSize-4 || &pl[len(pl)-1] != &pkt[PacketSize-1] {
				t.Fatalf("Payload of %d bytes outside the packet", len(pl))
			}
		}
		if pcr, ok := PCR(pkt); ok {
			SetPCR(pkt, pcr)
			if again, ok := PCR(pkt); !ok || again != pcr%PCRWrap {
				t.Fatalf("PCR %d round-trips to %d", pcr, again)
			}
		}
		var h PESHeader
		if ParsePESHeader(pl, &h) == nil {
			if h.DataOffset < 6 || h.DataOffset > len(pl) || h.PTS >= PTSWrap || h.DTS >= PTSWrap || h.HasDTS && !h.HasPTS {
				t.Fatalf("inconsistent PES header %+v for %d-byte payload", h, len(pl))
			}
			if !ShiftPESTimestamps(pl, 12345) {
				t.Fatal("ShiftPESTimestamps refused a header ParsePESHeader accepted")
			}
			var h2 PESHeader
			if err := ParsePESHeader(pl, &h2); err != nil || h2.HasPTS && h2.PTS != (h.PTS+12345)%PTSWrap {
				t.Fatalf("after shift: %+v, %v", h2, err)
			}
		} else if ShiftPESTimestamps(pl, 1) {
			t.Fatal("ShiftPESTimestamps accepted a header ParsePESHeader refused")
		}
		var c ContinuityChecker
		c.Check(pkt)
		if e, l := c.Check(pkt); e > 1 || l > 15 || l < 0 {
			t.Fatalf("Check = %d, %d", e, l)
		}
	})
}

// FuzzSectionAssembler feeds arbitrary packet sequences (the input cut into
// 188-byte packets) and checks that every section it returns is as long as
// its section_length says and that ParsePAT/ParsePMT never panic on it.
func FuzzSectionAssembler(f *testing.F) {
	small := AppendPATSection(nil, 1, 0, []PATProgram{{1, 0x1000}})
	big := makePMT(2, 0x100, []testStream{{0x1B, 0x100, make([]byte, 300)}, {0x06, 0x101, []byte{0x6A, 1, 0}}})
	f.Add(packSections(0, 0, [][]byte{small, big, small}, false))
	f.Add(packSections(0, 0, [][]byte{big}, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		var a SectionAssembler
		for off := 0; off < len(data); off += PacketSize {
			var p [PacketSize]byte
			copy(p[:], data[off:])
			for s, ok := a.Push(p[:]); ok; s, ok = a.Next() {
				if len(s) < 3 || len(s) != 3+(int(s[1]&0x0F)<<8|int(s[2])) {
					t.Fatalf("section of %d bytes, header says %d", len(s), 3+(int(s[1]&0x0F)<<8|int(s[2])))
				}
				if pat, err := ParsePAT(s); err == nil && len(pat.Programs) != (len(s)-12)/4 {
					t.Fatalf("PAT with %d programs from %d bytes", len(pat.Programs), len(s))
				}
				_, _ = ParsePMT(s)
			}
		}
	})
}

// FuzzParsePSI hands arbitrary bytes, with a valid CRC appended so that
// go-astits gets to parse them, to ParsePAT and ParsePMT.
func FuzzParsePSI(f *testing.F) {
	f.Add(AppendPATSection(nil, 1, 0, []PATProgram{{1, 0x1000}, {0, 0x10}}))
	f.Add(makePMT(1, 0x100, []testStream{{0x1B, 0x100, nil}, {0x06, 0x101, []byte{0x05, 4, 'A', 'C', '-', '3'}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 8 {
			return
		}
		sec := append([]byte(nil), data...)
		n := len(sec) + 4 - 3
		sec[1] = sec[1]&0xF0 | byte(n>>8)&0x0F
		sec[2] = byte(n)
		sec = appendCRC(sec)
		if pat, err := ParsePAT(sec); err == nil && len(pat.Programs) != (len(sec)-12)/4 {
			t.Fatalf("PAT with %d programs from %d bytes", len(pat.Programs), len(sec))
		}
		if pmt, err := ParsePMT(sec); err == nil {
			for _, s := range pmt.Streams {
				if s.PID > MaxPID {
					t.Fatalf("PID 0x%x", s.PID)
				}
			}
		}
	})
}

// FuzzKeyframeScanner checks that the verdict does not depend on how the
// ES bytes are split, and that nothing panics.
func FuzzKeyframeScanner(f *testing.F) {
	f.Add(uint8(CodecH264), uint8(7), []byte{0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 0x64, 0, 0, 1, 0x65, 0x88})
	f.Add(uint8(CodecHEVC), uint8(3), []byte{0, 0, 1, 0x46, 0x01, 0x50, 0, 0, 1, 0x26, 0x01, 0xAF})
	f.Add(uint8(CodecMPEG2Video), uint8(2), []byte{0, 0, 1, 0xB3, 0x28, 0x01, 0, 0, 1, 0, 0, 0x0F, 0xFF})
	f.Fuzz(func(t *testing.T, codec, cut uint8, es []byte) {
		c := Codec(codec % 16)
		whole := scan(c, [][]byte{es})
		k := min(int(cut), len(es))
		if split := scan(c, [][]byte{es[:k], es[k:]}); split != whole {
			t.Fatalf("split at %d: %v, whole: %v", k, split, whole)
		}
		if len(es) < 2048 {
			if b := scanBytewise(c, es); b != whole {
				t.Fatalf("bytewise %v, whole %v", b, whole)
			}
		}
		if whole == Keyframe && !bytes.Contains(es, []byte{0, 0, 1}) {
			t.Fatal("keyframe without a start code")
		}
	})
}
