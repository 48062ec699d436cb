package hlstest

import (
	"testing"
)

// packetsOf returns the offsets of the packets of PID p that carry a
// payload.
func packetsOf(b []byte, p uint16) []int {
	var offs []int
	for off := 0; off+PacketSize <= len(b); off += PacketSize {
		pkt := b[off : off+PacketSize]
		if pid(pkt) == p && pkt[3]&0x10 != 0 {
			offs = append(offs, off)
		}
	}
	return offs
}

func cut(b []byte, off int) []byte {
	return append(append([]byte(nil), b[:off]...), b[off+PacketSize:]...)
}

// cutAll removes the packets at offsets offs (ascending).
func cutAll(b []byte, offs []int) []byte {
	out := append([]byte(nil), b...)
	for i := len(offs) - 1; i >= 0; i-- {
		out = cut(out, offs[i])
	}
	return out
}

func dup(b []byte, off, times int) []byte {
	out := append([]byte(nil), b[:off+PacketSize]...)
	for i := 0; i < times; i++ {
		out = append(out, b[off:off+PacketSize]...)
	}
	return append(out, b[off+PacketSize:]...)
}

// stripSDT drops the SDT packet (PID 0x11) that ffmpeg's mpegts muxer
// writes before the PAT at the start of a file and of each HLS segment.
func stripSDT(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < PacketSize || pid(b) != 0x11 {
		t.Fatalf("ffmpeg's TS does not start with its SDT: % x", b[:min(len(b), 8)])
	}
	return b[PacketSize:]
}

func TestFirstPacketIsPAT(t *testing.T) {
	raw := readFile(t, clip(t))
	// ffmpeg starts with an SDT, which is not what slabcast promises.
	if FirstPacketIsPAT(raw) {
		t.Error("FirstPacketIsPAT accepts a TS that starts with an SDT")
	}
	if err := StartsWithPATPMT(raw); err == nil {
		t.Error("StartsWithPATPMT accepts a TS that starts with an SDT")
	}
	b := stripSDT(t, raw)
	if !FirstPacketIsPAT(b) {
		t.Fatal("ffmpeg's TS after the SDT does not start with a PAT")
	}
	if err := StartsWithPATPMT(b); err != nil {
		t.Fatal(err)
	}
	video := packetsOf(b, 0x100)
	f := func(name string, b []byte, wantPAT, wantPATPMT bool) {
		t.Helper()
		if got := FirstPacketIsPAT(b); got != wantPAT {
			t.Errorf("%s: FirstPacketIsPAT = %v", name, got)
		}
		if err := StartsWithPATPMT(b); (err == nil) != wantPATPMT {
			t.Errorf("%s: StartsWithPATPMT = %v", name, err)
		}
	}
	f("empty", nil, false, false)
	f("short", b[:187], false, false)
	f("PAT only", b[:PacketSize], true, false)
	f("from the PMT", b[PacketSize:], false, false)
	f("from video", b[video[5]:], false, false)
	f("bad sync", append([]byte{0x48}, b[1:]...), false, false)
	f("PAT then video", append(append([]byte(nil), b[:PacketSize]...), b[video[5]:]...), true, false)
	noPUSI := append([]byte(nil), b...)
	noPUSI[1] &^= 0x40
	f("PAT without PUSI", noPUSI, false, false)
}

func TestContinuityErrors(t *testing.T) {
	b := readFile(t, clip(t))
	if n := ContinuityErrors(b); n != 0 {
		t.Fatalf("ffmpeg's TS has %d continuity errors", n)
	}
	video, audio := packetsOf(b, 0x100), packetsOf(b, 0x101)
	if len(video) < 100 || len(audio) < 10 {
		t.Fatalf("%d video and %d audio packets", len(video), len(audio))
	}
	f := func(name string, b []byte, want int) {
		t.Helper()
		if got := ContinuityErrors(b); got != want {
			t.Errorf("%s: %d continuity errors, want %d", name, got, want)
		}
	}
	f("drop one video packet", cut(b, video[50]), 1)
	f("drop one audio packet", cut(b, audio[5]), 1)
	f("drop the first video packet", cut(b, video[0]), 0)
	f("drop two video packets apart", cut(cut(b, video[80]), video[40]), 2)
	f("drop 14 video packets", cutAll(b, video[50:64]), 1)
	// 15 dropped make the next packet look like a duplicate, 16 bring the
	// counter back where it was: neither can be seen in the counter.
	f("drop 15 video packets", cutAll(b, video[50:65]), 0)
	f("drop 16 video packets", cutAll(b, video[50:66]), 0)
	f("drop 17 video packets", cutAll(b, video[50:67]), 1)
	f("duplicate a packet", dup(b, video[50], 1), 0)
	f("triplicate a packet", dup(b, video[50], 2), 1)
	f("drop a PAT", cut(b, packetsOf(b, 0)[3]), 1)
	f("partial trailing packet", b[:len(b)-100], 0)

	// A bumped counter: one error where it jumps, one where it comes back.
	bumped := append([]byte(nil), b...)
	bumped[video[50]+3] = bumped[video[50]+3]&0xf0 | (bumped[video[50]+3]+5)&0x0f
	f("bumped counter", bumped, 2)

	// The same drop announced by discontinuity_indicator is no error: drop
	// the video packet before one that carries an adaptation field (the
	// PCR ones) and flag the latter.
	at := -1
	for i := 1; i < len(video); i++ {
		if off := video[i]; b[off+3]&0x20 != 0 && b[off+4] > 0 {
			at = i
			break
		}
	}
	if at < 0 {
		t.Fatal("no video packet with an adaptation field")
	}
	jump := cut(b, video[at-1])
	flagOff := video[at] - PacketSize // it moved up by the dropped packet
	f("drop before a packet", jump, 1)
	flagged := append([]byte(nil), jump...)
	flagged[flagOff+5] |= 0x80
	f("drop flagged by discontinuity_indicator", flagged, 0)
}
