package ts

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
)

func framed(f *Framer, in []byte, piece func() int) []byte {
	var out []byte
	for len(in) > 0 {
		n := min(piece(), len(in))
		f.Feed(in[:n], func(run []byte) error {
			if len(run)%PacketSize != 0 || len(run) > 7*PacketSize {
				panic("run of a bad size")
			}
			out = append(out, run...)
			return nil
		})
		in = in[n:]
	}
	f.Flush(func(run []byte) error { out = append(out, run...); return nil })
	return out
}

// A clip arriving in reads of any size comes out as its packets, in order,
// none lost, none added.
func TestFramerPieces(t *testing.T) {
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, piece := range []func() int{
		func() int { return 1 },
		func() int { return 187 },
		func() int { return 1 + r.IntN(5000) },
		func() int { return 1 << 20 },
	} {
		f := NewFramer(7)
		if got := framed(f, clip, piece); !bytes.Equal(got, clip) || f.Skipped() != 0 {
			t.Fatalf("framed %d of %d bytes, skipped %d", len(got), len(clip), f.Skipped())
		}
	}
}

// Garbage before the stream and inside it is skipped and counted; the
// packets around it come through whole.
func TestFramerResyncs(t *testing.T) {
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	clip = clip[:400*PacketSize]
	junk := bytes.Repeat([]byte("not TS \x47 at all "), 50)                                  // sync bytes, but not a packet apart
	in := append(append(append([]byte(nil), junk...), clip[:200*PacketSize+77]...), junk...) // 77 bytes of a cut packet
	in = append(in, clip[201*PacketSize:]...)
	f := NewFramer(7)
	got := framed(f, in, func() int { return 1316 })
	want := append(append([]byte(nil), clip[:200*PacketSize]...), clip[201*PacketSize:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("framed %d bytes, want %d", len(got), len(want))
	}
	if n := uint64(2*len(junk) + 77); f.Skipped() != n {
		t.Errorf("skipped %d bytes, want %d", f.Skipped(), n)
	}
}

func TestFramerAllocations(t *testing.T) {
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	f := NewFramer(7)
	emit := func([]byte) error { return nil }
	off := 0
	if a := testing.AllocsPerRun(1000, func() {
		f.Feed(clip[off:off+1000], emit)
		off = (off + 1000) % (len(clip) - 1000)
	}); a != 0 {
		t.Fatalf("%v allocations per Feed", a)
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte{SyncByte}, 1)
	f.Add(bytes.Repeat(append([]byte{SyncByte}, make([]byte, PacketSize-1)...), 4), 100)
	f.Add(append([]byte("x\x47y"), bytes.Repeat(append([]byte{SyncByte}, make([]byte, PacketSize-1)...), 4)...), 3)
	f.Fuzz(func(t *testing.T, in []byte, piece int) {
		if piece <= 0 {
			piece = 1
		}
		fr := NewFramer(7)
		out := 0
		for b := in; len(b) > 0; {
			n := min(piece, len(b))
			fr.Feed(b[:n], func(run []byte) error {
				if len(run)%PacketSize != 0 {
					t.Fatalf("run of %d bytes", len(run))
				}
				for i := 0; i < len(run); i += PacketSize {
					if run[i] != SyncByte {
						t.Fatalf("packet without a sync byte")
					}
				}
				out += len(run)
				return nil
			})
			b = b[n:]
		}
		if uint64(out)+fr.Skipped() > uint64(len(in)) {
			t.Fatalf("%d bytes out and %d skipped from %d in", out, fr.Skipped(), len(in))
		}
	})
}
