package pipeline

import (
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// BenchmarkIngest is the receive path after recvmmsg, per TS packet: TS
// parse, TR 101 290 health, PSI, keyframe holds, splice into slabs and
// segment cuts, over the demo clip looped (each loop a timestamp jump, so a
// discontinuity cut too). BenchmarkIngestNoHealth leaves the health monitor
// out, so the difference is what the health checks cost.
func BenchmarkIngest(b *testing.B) { benchIngest(b, true) }

func BenchmarkIngestNoHealth(b *testing.B) { benchIngest(b, false) }

func benchIngest(b *testing.B, health bool) {
	s := testStream(b, testPool(b, 64<<20), 2*time.Second)
	s.seg.noHealth = !health
	benchIngestStream(b, s)
}

// benchIngestStream feeds s the demo clip looped, a datagram an iteration.
func benchIngestStream(b *testing.B, s *Stream) {
	clip := readClip(b, "h264_aac.ts")
	const dg = 7 * ts.PacketSize
	n := len(clip) / dg
	now := epoch
	b.SetBytes(dg)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % n
		if k == 0 {
			now = now.Add(11 * time.Second)
		}
		s.seg.now = now
		s.seg.datagram(clip[k*dg : (k+1)*dg])
		if k%16 == 15 {
			s.seg.commit()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/7, "ns/packet")
}
