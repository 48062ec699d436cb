package fmp4

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/slabcast/slabcast/ts"
)

// BenchmarkPackage measures what packaging costs per TS byte: a whole
// committed clip (H.264 + AAC) parsed and made into an fMP4 HLS media
// segment (muxed), or DASH's per-track media segments. SetBytes is the TS
// size, so MB/s is TS packaged per second on one core.
func BenchmarkPackage(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hls", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			p, err := Parse(data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Media(1, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dash", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			p, err := Parse(data)
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range p.Tracks {
				if _, err := p.Init(t.ID); err != nil {
					b.Fatal(err)
				}
				if _, err := p.Media(1, 0, t.ID); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// The fragment writer writes the bytes mediacommon's fmp4.Part writes for
// the same samples (its reflection-driven writer was most of packaging's
// cost; it stays the reference).
func TestFragmentMatchesMediacommon(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	const ref = 1 << 40
	for _, ids := range [][]int{nil, {p.Tracks[0].ID}, {p.Tracks[len(p.Tracks)-1].ID}} {
		got, err := p.Media(7, ref, ids...)
		if err != nil {
			t.Fatal(err)
		}
		tracks, _ := p.pick(ids)
		part := mcfmp4.Part{SequenceNumber: 7}
		for _, tr := range tracks {
			tl := tr.timeline(ref)
			pt := &mcfmp4.PartTrack{ID: tr.ID, BaseTime: tl[0].start}
			for i := range tr.samples {
				smp := &tr.samples[i]
				ms := &mcfmp4.Sample{Duration: tl[i].duration, PTSOffset: tl[i].offset, IsNonSyncSample: !smp.sync, Payload: smp.au}
				if tr.Codec != ts.CodecAAC {
					ms.Payload, _ = h264.AVCC(smp.nalus).Marshal()
				}
				pt.Samples = append(pt.Samples, ms)
			}
			part.Tracks = append(part.Tracks, pt)
		}
		var buf seekablebuffer.Buffer
		if err := part.Marshal(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("tracks %v: %d bytes differ from mediacommon's %d", ids, len(got), len(buf.Bytes()))
		}
	}
}
