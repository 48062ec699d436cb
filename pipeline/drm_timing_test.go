package pipeline

import (
	"testing"

	"github.com/slabcast/slabcast/ts"
)

// BenchmarkEncryptSegment is what a drm stream pays once per segment when
// it closes (segmenter.encrypt): the key looked up, the cipher made, the
// PKCS7 padding appended and the segment's slab chunks encrypted in place
// with AES-128-CBC. The segment is 1 MB of TS packets, a 2 s segment at
// 4 Mbit/s. SetBytes makes ns/op per byte readable as MB/s; ns/byte and
// cores/Gbit/s (ns/byte ÷ 8: the cores one Gbit/s of ingest keeps busy
// encrypting) are reported beside it.
func BenchmarkEncryptSegment(b *testing.B) {
	pool := testPool(b, 64<<20)
	s := drmStream(b, pool, "aes128 keyserver=http://127.0.0.1:1/")
	s.keys.mu.Lock()
	s.keys.keys[0] = testKey(0)
	s.keys.mu.Unlock()
	g := &s.seg
	g.now = epoch
	g.start(0, wall90(epoch))
	pkt := make([]byte, ts.PacketSize)
	pkt[0], pkt[1], pkt[2], pkt[3] = ts.SyncByte, 0x01, 0x00, 0x10
	for i := range pkt[4:] {
		pkt[4+i] = byte(i)
	}
	const packets = 1_000_000 / ts.PacketSize // not a whole number of chunks: the padding fits
	for range packets {
		g.write(pkt)
	}
	seg := g.out.cur
	size, nref := seg.wr, seg.nref.Load()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		seg.wr = size
		seg.nref.Store(nref)
		if !g.encrypt(seg) {
			b.Fatal("encrypt failed")
		}
	}
	nsPerByte := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(size)
	b.ReportMetric(nsPerByte, "ns/byte")
	b.ReportMetric(nsPerByte/8, "cores/Gbit/s")
}

// BenchmarkIngestDRM is BenchmarkIngest for a drm stream whose key is
// held: the receive path per TS packet with each segment encrypted when it
// closes. Against BenchmarkIngest, the difference is encryption's share
// of the ingest path (the clip is 790 kbit/s, so segments are small and
// their per-segment costs weigh more than at a real channel's rate).
func BenchmarkIngestDRM(b *testing.B) {
	s := drmStream(b, testPool(b, 64<<20), "aes128 keyserver=http://127.0.0.1:1/")
	s.keys.mu.Lock()
	s.keys.keys[0] = testKey(0)
	s.keys.mu.Unlock()
	benchIngestStream(b, s)
	n := len(readClip(b, "h264_aac.ts")) / (7 * ts.PacketSize)
	if s.c.n[Withheld].Load() > 0 || b.N > 2*n && s.c.n[Segments].Load() == 0 {
		b.Fatalf("segments %d, withheld %d: the benchmark did not encrypt", s.c.n[Segments].Load(), s.c.n[Withheld].Load())
	}
}
