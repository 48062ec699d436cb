package ts

import (
	"os"
	"path/filepath"
	"testing"
)

// clips lists the committed test clips (see ../testdata/make-clips.sh) with
// what they are known to hold.
var clips = []struct {
	name        string
	video       Codec
	audio       Codec
	audioType   uint8
	videoType   uint8
	keyframes   int // keyframe access units
	videoFrames int // video access units
}{
	{"h264_aac.ts", CodecH264, CodecAAC, 0x0F, 0x1B, 10, 250},
	{"hevc_mp2.ts", CodecHEVC, CodecMPEGAudio, 0x03, 0x24, 4, 100},
	{"mpeg2_mp2.ts", CodecMPEG2Video, CodecMPEGAudio, 0x03, 0x02, 4, 100},
}

func readClip(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("reading clip: %v", err)
	}
	if len(b) == 0 || len(b)%PacketSize != 0 || b[0] != SyncByte {
		t.Fatalf("%s: not a whole number of TS packets (%d bytes)", name, len(b))
	}
	return b
}

// packets calls f for each 188-byte packet of data.
func packets(data []byte, f func(p []byte)) {
	for off := 0; off+PacketSize <= len(data); off += PacketSize {
		f(data[off : off+PacketSize])
	}
}

// firstSection returns a copy of the first complete section on pid.
func firstSection(t testing.TB, data []byte, pid uint16) []byte {
	t.Helper()
	var a SectionAssembler
	var out []byte
	packets(data, func(p []byte) {
		if out != nil || PID(p) != pid {
			return
		}
		if s, ok := a.Push(p); ok {
			out = append([]byte(nil), s...)
		}
	})
	if out == nil {
		t.Fatalf("no section on PID 0x%x", pid)
	}
	return out
}

// pesUnit is one PES packet of a clip.
type pesUnit struct {
	hdr     PESHeader
	es      []byte   // elementary stream bytes (copied)
	chunks  [][]byte // ES bytes as they sat in each TS packet
	randAcc bool     // random_access_indicator on the first packet
}

// collectPES reassembles the PES packets of pid.
func collectPES(t testing.TB, data []byte, pid uint16) []pesUnit {
	t.Helper()
	var units []pesUnit
	packets(data, func(p []byte) {
		if PID(p) != pid {
			return
		}
		pl := Payload(p)
		if PUSI(p) {
			var u pesUnit
			if err := ParsePESHeader(pl, &u.hdr); err != nil {
				t.Fatalf("PES header on PID 0x%x: %v", pid, err)
			}
			u.randAcc = RandomAccessIndicator(p)
			pl = pl[u.hdr.DataOffset:]
			units = append(units, u)
		}
		if len(units) == 0 || len(pl) == 0 {
			return
		}
		u := &units[len(units)-1]
		u.es = append(u.es, pl...)
		u.chunks = append(u.chunks, append([]byte(nil), pl...))
	})
	return units
}

// packet builds one packet from a header and fills the rest with fill.
func packet(fill byte, hdr ...byte) []byte {
	p := make([]byte, PacketSize)
	for i := range p {
		p[i] = fill
	}
	copy(p, hdr)
	return p
}
