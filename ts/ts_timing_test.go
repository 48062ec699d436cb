package ts

import "testing"

var sink uint64

// BenchmarkPacketAccessors measures the per-packet header work of the
// receive path over a real clip: PID, flags, payload, PCR.
func BenchmarkPacketAccessors(b *testing.B) {
	data := readClip(b, "h264_aac.ts")
	b.ReportAllocs()
	b.SetBytes(PacketSize)
	var s uint64
	off := 0
	for b.Loop() {
		p := data[off : off+PacketSize]
		if off += PacketSize; off == len(data) {
			off = 0
		}
		s += uint64(PID(p)) + uint64(CC(p)) + uint64(len(Payload(p)))
		if PUSI(p) && RandomAccessIndicator(p) {
			s++
		}
		if pcr, ok := PCR(p); ok {
			s += pcr
		}
	}
	sink = s
}

// BenchmarkContinuityCheck is the Continuity_count_error check per packet.
func BenchmarkContinuityCheck(b *testing.B) {
	data := readClip(b, "h264_aac.ts")
	var c ContinuityChecker
	b.ReportAllocs()
	b.SetBytes(PacketSize)
	var s int
	off := 0
	for b.Loop() {
		e, _ := c.Check(data[off : off+PacketSize])
		if off += PacketSize; off == len(data) {
			off = 0
		}
		s += e
	}
	sink = uint64(s)
}

// BenchmarkParsePESHeader parses a video PES header with PTS and DTS.
func BenchmarkParsePESHeader(b *testing.B) {
	p := pesWith(0xE0, 0xC0, encodeTimestamp(3, 903600), encodeTimestamp(1, 900000))
	var h PESHeader
	b.ReportAllocs()
	for b.Loop() {
		if ParsePESHeader(p, &h) != nil {
			b.Fatal("parse failed")
		}
	}
	sink = h.PTS
}

// BenchmarkKeyframeScanner runs the scanner over every video PES of the
// H.264 clip, packet by packet, until each verdict; ns/op is per PES.
func BenchmarkKeyframeScanner(b *testing.B) {
	for _, c := range clips {
		b.Run(c.video.String(), func(b *testing.B) {
			units := collectPES(b, readClip(b, c.name), 0x100)
			var s KeyframeScanner
			b.ReportAllocs()
			keys := 0
			for i := 0; b.Loop(); i++ {
				u := units[i%len(units)]
				s.Reset(c.video)
				for _, ch := range u.chunks {
					if v := s.Feed(ch); v != Undecided {
						if v == Keyframe {
							keys++
						}
						break
					}
				}
			}
			sink = uint64(keys)
		})
	}
}

// BenchmarkSectionAssembler reassembles the PAT and PMT packets of a clip;
// ns/op is per packet.
func BenchmarkSectionAssembler(b *testing.B) {
	data := readClip(b, "h264_aac.ts")
	var psi [][]byte
	packets(data, func(p []byte) {
		if pid := PID(p); pid == 0 || pid == 0x1000 {
			psi = append(psi, p)
		}
	})
	var pat, pmt SectionAssembler
	b.ReportAllocs()
	b.SetBytes(PacketSize)
	n := 0
	for i := 0; b.Loop(); i++ {
		p := psi[i%len(psi)]
		a := &pat
		if PID(p) != 0 {
			a = &pmt
		}
		if _, ok := a.Push(p); ok {
			n++
		}
	}
	sink = uint64(n)
}

// BenchmarkParsePMT is the allocation-heavy path taken when a PMT's bytes
// change.
func BenchmarkParsePMT(b *testing.B) {
	sec := firstSection(b, readClip(b, "h264_aac.ts"), 0x1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePMT(sec); err != nil {
			b.Fatal(err)
		}
	}
}
