package ts

import "testing"

// BenchmarkHealth is the TR 101 290 monitor on the receive path: Packet for
// every packet of a clip paced by its PCR, Tick after every datagram of
// seven; ns/op is per packet. Compare with BenchmarkContinuityCheck, the
// part of it that runs anyway.
func BenchmarkHealth(b *testing.B) {
	for _, name := range []string{"h264_aac.ts", "hevc_mp2.ts", "mpeg2_mp2.ts", "audio_aac.ts"} {
		b.Run(name, func(b *testing.B) {
			f := pacedClip(b, name)
			span := f.at[len(f.at)-1] - f.at[0] + 40*ms // one pass of the clip
			var h Health
			b.ReportAllocs()
			b.SetBytes(PacketSize)
			i := 0
			var shift int64
			for b.Loop() {
				now := f.at[i] + shift
				h.Packet(f.pk[i], now)
				if i%7 == 6 {
					h.Tick(now)
				}
				if i++; i == len(f.pk) {
					i, shift = 0, shift+span
				}
			}
			sink = h.Count(ContinuityCountError)
		})
	}
}

// BenchmarkHealthTick is one Tick of a monitor that follows a program with
// two elementary streams.
func BenchmarkHealthTick(b *testing.B) {
	f := pacedClip(b, "h264_aac.ts")
	var h Health
	f.run(&h)
	now := f.at[len(f.at)-1]
	b.ReportAllocs()
	for b.Loop() {
		h.Tick(now)
	}
	sink = h.Count(PIDError)
}
