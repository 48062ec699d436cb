package nic

import "testing"

// benchRTP pushes 7-TS-packet datagrams (1328 bytes, as IPTV senders use)
// through a receiver; order lists the sequence offsets of each group of 64.
func benchRTP(b *testing.B, order []int) {
	r := NewRTPReceiver(32)
	d := rtpPacket(rtpHdr{ssrc: 1, pt: 33, extWords: -1}, tsFor(0, 0, 7))
	var sink int
	emit := func(p []byte) { sink += len(p) }
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	b.ResetTimer()
	var base uint16
	for i := 0; i < b.N; {
		for _, off := range order {
			s := base + uint16(off)
			d[2], d[3] = byte(s>>8), byte(s)
			if err := r.Push(d, emit); err != nil {
				b.Fatal(err)
			}
		}
		i += len(order)
		base += 64
	}
	r.Flush(emit)
	b.StopTimer()
	if sink == 0 {
		b.Fatal("nothing emitted")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/datagram")
}

func BenchmarkRTPReceiver(b *testing.B) {
	inOrder := make([]int, 64)
	for i := range inOrder {
		inOrder[i] = i
	}
	b.Run("in-order", func(b *testing.B) { benchRTP(b, inOrder) })

	var swapped, reversed, lossy []int
	for i := 0; i < 64; i += 2 {
		swapped = append(swapped, i+1, i)
	}
	for blk := 0; blk < 64; blk += 8 {
		for i := 7; i >= 0; i-- {
			reversed = append(reversed, blk+i)
		}
	}
	for i := range 64 {
		if i%16 != 5 { // 1 in 16 lost: held, then given up
			lossy = append(lossy, i)
		}
	}
	b.Run("swap-pairs", func(b *testing.B) { benchRTP(b, swapped) })
	b.Run("reverse-8", func(b *testing.B) { benchRTP(b, reversed) })
	b.Run("loss-1in16", func(b *testing.B) { benchRTP(b, lossy) })
}
