package ts

import (
	"testing"
)

func TestPacketHeader(t *testing.T) {
	f := func(hdr []byte, pid uint16, pusi, tei bool, cc uint8, payload, adapt bool) {
		t.Helper()
		p := packet(0xAA, hdr...)
		if got := PID(p); got != pid {
			t.Errorf("% x: PID = 0x%x, want 0x%x", hdr, got, pid)
		}
		if got := PUSI(p); got != pusi {
			t.Errorf("% x: PUSI = %v, want %v", hdr, got, pusi)
		}
		if got := TEI(p); got != tei {
			t.Errorf("% x: TEI = %v, want %v", hdr, got, tei)
		}
		if got := CC(p); got != cc {
			t.Errorf("% x: CC = %d, want %d", hdr, got, cc)
		}
		if got := HasPayload(p); got != payload {
			t.Errorf("% x: HasPayload = %v, want %v", hdr, got, payload)
		}
		if got := HasAdaptation(p); got != adapt {
			t.Errorf("% x: HasAdaptation = %v, want %v", hdr, got, adapt)
		}
	}
	f([]byte{0x47, 0x00, 0x00, 0x10}, 0, false, false, 0, true, false)
	f([]byte{0x47, 0x40, 0x00, 0x10}, 0, true, false, 0, true, false)
	f([]byte{0x47, 0x80, 0x00, 0x10}, 0, false, true, 0, true, false)
	f([]byte{0x47, 0x1F, 0xFF, 0x10}, NullPID, false, false, 0, true, false)
	f([]byte{0x47, 0xFF, 0xFF, 0xFF}, NullPID, true, true, 15, true, true)
	f([]byte{0x47, 0x41, 0x00, 0x37}, 0x100, true, false, 7, true, true)
	f([]byte{0x47, 0x01, 0x01, 0x2A, 0xB7}, 0x101, false, false, 10, false, true)
	f([]byte{0x47, 0x10, 0x00, 0x05}, 0x1000, false, false, 5, false, false)
}

func TestSetCC(t *testing.T) {
	p := packet(0, 0x47, 0x41, 0x00, 0x3C)
	for cc := range uint8(20) {
		SetCC(p, cc)
		if got := CC(p); got != cc&0x0F {
			t.Fatalf("SetCC(%d): CC = %d", cc, got)
		}
		if p[3]&0xF0 != 0x30 {
			t.Fatalf("SetCC(%d) touched the high bits: %#x", cc, p[3])
		}
	}
}

func TestPayload(t *testing.T) {
	f := func(hdr []byte, want int) {
		t.Helper()
		p := packet(0xAB, hdr...)
		got := Payload(p)
		if want < 0 {
			if got != nil {
				t.Errorf("% x: Payload has %d bytes, want nil", hdr, len(got))
			}
			return
		}
		if len(got) != PacketSize-want {
			t.Errorf("% x: Payload has %d bytes, want %d (starting at %d)", hdr, len(got), PacketSize-want, want)
		}
		if len(got) > 0 && &got[0] != &p[want] {
			t.Errorf("% x: Payload does not share the packet's memory at offset %d", hdr, want)
		}
	}
	f([]byte{0x47, 0, 0, 0x10}, 4)                // payload only
	f([]byte{0x47, 0, 0, 0x30, 0}, 5)             // empty adaptation field
	f([]byte{0x47, 0, 0, 0x30, 7, 0x10}, 12)      // PCR-sized adaptation field
	f([]byte{0x47, 0, 0, 0x30, 182}, 187)         // one byte of payload
	f([]byte{0x47, 0, 0, 0x30, 183}, -1)          // adaptation fills the packet: no payload
	f([]byte{0x47, 0, 0, 0x30, 0xFF}, -1)         // invalid length
	f([]byte{0x47, 0, 0, 0x20, 183}, -1)          // adaptation only
	f([]byte{0x47, 0, 0, 0x00}, -1)               // reserved afc
	f([]byte{0x47, 0x40, 0x00, 0x1F, 0, 0, 1}, 4) // PUSI
}

func TestAdaptationFlags(t *testing.T) {
	f := func(hdr []byte, disc, rai bool) {
		t.Helper()
		p := packet(0, hdr...)
		if got := DiscontinuityIndicator(p); got != disc {
			t.Errorf("% x: DiscontinuityIndicator = %v, want %v", hdr, got, disc)
		}
		if got := RandomAccessIndicator(p); got != rai {
			t.Errorf("% x: RandomAccessIndicator = %v, want %v", hdr, got, rai)
		}
	}
	f([]byte{0x47, 0, 0, 0x30, 1, 0x80}, true, false)
	f([]byte{0x47, 0, 0, 0x30, 1, 0x40}, false, true)
	f([]byte{0x47, 0, 0, 0x20, 183, 0xC0}, true, true)
	f([]byte{0x47, 0, 0, 0x30, 0, 0xC0}, false, false)   // zero-length field: flags byte absent
	f([]byte{0x47, 0, 0, 0x10, 1, 0xC0}, false, false)   // no adaptation field
	f([]byte{0x47, 0, 0, 0x30, 200, 0xC0}, false, false) // invalid length
}

func TestPCR(t *testing.T) {
	// PCR base 0x1_2345_6789 (33 bits), extension 0x123: hand-encoded.
	hdr := []byte{0x47, 0x01, 0x00, 0x20, 183, 0x10, 0x91, 0xA2, 0xB3, 0xC4, 0xFF, 0x23}
	p := packet(0xFF, hdr...)
	base, ext := uint64(0x123456789), uint64(0x123)
	pcr, ok := PCR(p)
	if !ok || pcr != base*300+ext {
		t.Fatalf("PCR = %d, %v; want %d", pcr, ok, base*300+ext)
	}
	f := func(hdr []byte) {
		t.Helper()
		if pcr, ok := PCR(packet(0xFF, hdr...)); ok {
			t.Errorf("% x: PCR = %d, want none", hdr, pcr)
		}
	}
	f([]byte{0x47, 0, 0, 0x10})                // no adaptation field
	f([]byte{0x47, 0, 0, 0x30, 7, 0x00})       // PCR flag clear
	f([]byte{0x47, 0, 0, 0x30, 6, 0x10})       // too short for a PCR
	f([]byte{0x47, 0, 0, 0x30, 0, 0x10})       // empty field
	f([]byte{0x47, 0, 0, 0x30, 0xBC, 0x10, 1}) // length beyond the packet

	for _, v := range []uint64{0, 1, 299, 300, 27_000_000, PCRWrap - 1, PCRWrap + 5} {
		q := packet(0, 0x47, 0x01, 0x00, 0x30, 7, 0x10)
		SetPCR(q, v)
		got, ok := PCR(q)
		if !ok || got != v%PCRWrap {
			t.Errorf("SetPCR(%d): PCR = %d, %v", v, got, ok)
		}
		if q[10]&0x7E != 0x7E {
			t.Errorf("SetPCR(%d): reserved bits %#x", v, q[10])
		}
	}
	q := packet(0x55, 0x47, 0, 0, 0x30, 7, 0x00)
	want := append([]byte(nil), q...)
	SetPCR(q, 12345)
	if string(q) != string(want) {
		t.Error("SetPCR wrote into a packet without PCR")
	}
}

func TestPCRFromClip(t *testing.T) {
	// ffmpeg puts a PCR on the video PID; successive PCRs grow by less than
	// 100 ms and span about the clip's length.
	data := readClip(t, "h264_aac.ts")
	var first, last uint64
	n := 0
	packets(data, func(p []byte) {
		pcr, ok := PCR(p)
		if !ok {
			return
		}
		if PID(p) != 0x100 {
			t.Fatalf("PCR on PID 0x%x", PID(p))
		}
		if n > 0 {
			if d := PCRDiff(pcr, last); d <= 0 || d > 27_000_000/10 {
				t.Fatalf("PCR step %d", d)
			}
		} else {
			first = pcr
		}
		last = pcr
		n++
	})
	if span := PCRDiff(last, first); n < 100 || span < 9*27_000_000 || span > 11*27_000_000 {
		t.Fatalf("%d PCRs spanning %d ticks", n, span)
	}
}

func TestAccessorsDoNotAllocate(t *testing.T) {
	p := packet(0, 0x47, 0x41, 0x00, 0x30, 7, 0xD0, 1, 2, 3, 4, 0xFF, 5)
	var sink uint64
	allocs := testing.AllocsPerRun(100, func() {
		sink += uint64(PID(p)) + uint64(CC(p))
		if PUSI(p) && !TEI(p) && HasPayload(p) && HasAdaptation(p) && DiscontinuityIndicator(p) && RandomAccessIndicator(p) {
			sink++
		}
		sink += uint64(len(Payload(p)))
		pcr, _ := PCR(p)
		SetPCR(p, pcr+1)
		SetCC(p, CC(p)+1)
	})
	if allocs != 0 {
		t.Fatalf("accessors allocate %v times per packet", allocs)
	}
	_ = sink
}
