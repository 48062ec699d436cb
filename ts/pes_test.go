package ts

import (
	"errors"
	"testing"
)

// encodeTimestamp encodes ts the way 13818-1 2.4.3.7 lays it out, with
// the 4-bit prefix.
func encodeTimestamp(prefix byte, ts uint64) []byte {
	return []byte{
		prefix<<4 | byte(ts>>30&7)<<1 | 1,
		byte(ts >> 22),
		byte(ts>>15&0x7F)<<1 | 1,
		byte(ts >> 7),
		byte(ts&0x7F)<<1 | 1,
	}
}

func pesWith(streamID byte, flags byte, stamps ...[]byte) []byte {
	var opt []byte
	for _, s := range stamps {
		opt = append(opt, s...)
	}
	b := []byte{0, 0, 1, streamID, 0, 0, 0x84, flags, byte(len(opt))}
	b = append(b, opt...)
	return append(b, 0, 0, 0, 1, 0x09, 0xF0) // ES: an H.264 AUD
}

func TestParsePESHeader(t *testing.T) {
	const big = PTSWrap - 1
	f := func(payload []byte, want PESHeader, wantErr error) {
		t.Helper()
		var h PESHeader
		err := ParsePESHeader(payload, &h)
		if !errors.Is(err, wantErr) {
			t.Fatalf("% x: err = %v, want %v", payload, err, wantErr)
		}
		if err == nil && h != want {
			t.Fatalf("% x: header = %+v, want %+v", payload, h, want)
		}
	}
	f(pesWith(0xE0, 0x80, encodeTimestamp(2, 900000)),
		PESHeader{StreamID: 0xE0, PTS: 900000, HasPTS: true, DataOffset: 14}, nil)
	f(pesWith(0xE0, 0xC0, encodeTimestamp(3, 903600), encodeTimestamp(1, 900000)),
		PESHeader{StreamID: 0xE0, PTS: 903600, DTS: 900000, HasPTS: true, HasDTS: true, DataOffset: 19}, nil)
	f(pesWith(0xC0, 0x80, encodeTimestamp(2, big)),
		PESHeader{StreamID: 0xC0, PTS: big, HasPTS: true, DataOffset: 14}, nil)
	f(pesWith(0xE0, 0x00), PESHeader{StreamID: 0xE0, DataOffset: 9}, nil)
	// Stuffing after the timestamps belongs to the header.
	f(pesWith(0xE0, 0x80, encodeTimestamp(2, 1), []byte{0xFF, 0xFF}),
		PESHeader{StreamID: 0xE0, PTS: 1, HasPTS: true, DataOffset: 16}, nil)
	// padding_stream and private_stream_2 have no optional header.
	f([]byte{0, 0, 1, 0xBE, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF}, PESHeader{StreamID: 0xBE, DataOffset: 6}, nil)
	f([]byte{0, 0, 1, 0xBF, 0, 1, 0x80}, PESHeader{StreamID: 0xBF, DataOffset: 6}, nil)

	f([]byte{0, 0, 2, 0xE0, 0, 0, 0x80, 0, 0}, PESHeader{}, ErrNotPES)
	f([]byte{1, 2, 3}, PESHeader{}, ErrNotPES)
	f([]byte{0, 0, 1}, PESHeader{}, ErrShortPES)
	f([]byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80}, PESHeader{}, ErrShortPES)
	f([]byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 5, 0x21}, PESHeader{}, ErrShortPES)
	f([]byte{0, 0, 1, 0xE0, 0, 0, 0x40, 0x80, 5, 0x21, 0, 1, 0, 1}, PESHeader{}, ErrBadPESHeader) // MPEG-1 marker
	f([]byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x80, 2, 0x21, 0, 1, 0, 1}, PESHeader{}, ErrBadPESHeader) // header too short for PTS
	f([]byte{0, 0, 1, 0xE0, 0, 0, 0x80, 0x40, 5, 0x21, 0, 1, 0, 1}, PESHeader{}, ErrBadPESHeader) // flags '01'
	f(pesWith(0xE0, 0xC0, encodeTimestamp(3, 5))[:14+5], PESHeader{}, ErrBadPESHeader)            // PTS+DTS flags, 5-byte header
}

func TestShiftPESTimestamps(t *testing.T) {
	f := func(pts, dts, delta uint64, withDTS bool) {
		t.Helper()
		var p []byte
		if withDTS {
			p = pesWith(0xE0, 0xC0, encodeTimestamp(3, pts), encodeTimestamp(1, dts))
		} else {
			p = pesWith(0xE0, 0x80, encodeTimestamp(2, pts))
		}
		orig := append([]byte(nil), p...)
		if !ShiftPESTimestamps(p, delta) {
			t.Fatalf("ShiftPESTimestamps refused % x", p)
		}
		var h PESHeader
		if err := ParsePESHeader(p, &h); err != nil {
			t.Fatal(err)
		}
		if want := (pts + delta) % PTSWrap; h.PTS != want {
			t.Errorf("PTS %d+%d = %d, want %d", pts, delta, h.PTS, want)
		}
		if withDTS {
			if want := (dts + delta) % PTSWrap; h.DTS != want {
				t.Errorf("DTS %d+%d = %d, want %d", dts, delta, h.DTS, want)
			}
		}
		// Prefixes and marker bits are kept: shifting back restores the bytes.
		ShiftPESTimestamps(p, PTSWrap-delta%PTSWrap)
		if string(p) != string(orig) {
			t.Errorf("shift and unshift changed the header:\n% x\n% x", orig, p)
		}
	}
	f(900000, 0, 3600, false)
	f(903600, 900000, 90000, true)
	f(PTSWrap-100, PTSWrap-3700, 200, true) // both wrap
	f(PTSWrap-1, 0, 1, false)
	f(0x1_5555_5555, 0xAAAA_AAAA, 0x1_0000_0000, true)
	if ShiftPESTimestamps([]byte{0, 0, 2, 0xE0}, 1) {
		t.Error("ShiftPESTimestamps accepted a non-PES payload")
	}
	p := pesWith(0xE0, 0x00)
	if !ShiftPESTimestamps(p, 5) || string(p) != string(pesWith(0xE0, 0x00)) {
		t.Error("ShiftPESTimestamps changed a header without timestamps")
	}
}

func TestPTSDiff(t *testing.T) {
	f := func(a, b uint64, want int64) {
		t.Helper()
		if got := PTSDiff(a, b); got != want {
			t.Errorf("PTSDiff(%d, %d) = %d, want %d", a, b, got, want)
		}
	}
	f(3600, 0, 3600)
	f(0, 3600, -3600)
	f(100, PTSWrap-100, 200) // forward across the wrap
	f(PTSWrap-100, 100, -200)
	f(1<<32, 0, -(1 << 32)) // exactly half way: the negative end of the range
	f((1<<32)-1, 0, (1<<32)-1)
	f(5, 5, 0)
}

func TestPCRDiff(t *testing.T) {
	f := func(a, b uint64, want int64) {
		t.Helper()
		if got := PCRDiff(a, b); got != want {
			t.Errorf("PCRDiff(%d, %d) = %d, want %d", a, b, got, want)
		}
	}
	f(27_000_000, 0, 27_000_000)
	f(0, 27_000_000, -27_000_000)
	f(300, PCRWrap-300, 600)
	f(PCRWrap-300, 300, -600)
	f(PCRWrap/2, 0, -PCRWrap/2)
	f(PCRWrap+10, 5, 5) // inputs are taken modulo the wrap
}

func TestPESFromClips(t *testing.T) {
	// Every PES of every clip parses; video DTS grows by one frame (3600
	// ticks at 25 fps) per access unit.
	for _, c := range clips {
		data := readClip(t, c.name)
		units := collectPES(t, data, 0x100)
		if len(units) != c.videoFrames {
			t.Errorf("%s: %d video PES, want %d", c.name, len(units), c.videoFrames)
			continue
		}
		for i := 1; i < len(units); i++ {
			dts := func(u pesUnit) uint64 {
				if u.hdr.HasDTS {
					return u.hdr.DTS
				}
				return u.hdr.PTS
			}
			if d := PTSDiff(dts(units[i]), dts(units[i-1])); d != 3600 {
				t.Fatalf("%s: PES %d: DTS step %d", c.name, i, d)
			}
		}
		if audio := collectPES(t, data, 0x101); len(audio) < 10 {
			t.Errorf("%s: %d audio PES", c.name, len(audio))
		}
	}
}

func TestParsePESHeaderDoesNotAllocate(t *testing.T) {
	p := pesWith(0xE0, 0xC0, encodeTimestamp(3, 903600), encodeTimestamp(1, 900000))
	var h PESHeader
	allocs := testing.AllocsPerRun(100, func() {
		if ParsePESHeader(p, &h) != nil || ParsePESHeader(p[:3], &h) == nil {
			t.Fatal("unexpected result")
		}
		ShiftPESTimestamps(p, 1)
	})
	if allocs != 0 {
		t.Fatalf("ParsePESHeader allocates %v times", allocs)
	}
}
