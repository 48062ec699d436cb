package hlstest

import (
	"testing"
)

var sinkInt int

// synthTS returns n packets on PIDs 0x100 and 0x101 with correct counters.
func synthTS(n int) []byte {
	b := make([]byte, n*PacketSize)
	var cc [2]byte
	for i := 0; i < n; i++ {
		pkt := b[i*PacketSize : (i+1)*PacketSize]
		k := i % 2
		pkt[0], pkt[1], pkt[2], pkt[3] = syncByte, 0x01, byte(k), 0x10|cc[k]
		cc[k] = (cc[k] + 1) & 0x0f
	}
	return b
}

func TestContinuityErrorsAllocs(t *testing.T) {
	b := synthTS(1000)
	if n := ContinuityErrors(b); n != 0 {
		t.Fatalf("synthetic TS: %d errors", n)
	}
	if a := testing.AllocsPerRun(20, func() { sinkInt += ContinuityErrors(b) }); a != 0 {
		t.Errorf("ContinuityErrors allocates %v times a call", a)
	}
}

func BenchmarkContinuityErrors(b *testing.B) {
	ts := synthTS(7 * 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(ts)))
	for b.Loop() {
		sinkInt += ContinuityErrors(ts)
	}
}

func BenchmarkParsePlaylist(b *testing.B) {
	text := live(1764144397, 10, 1.96).Encode(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		p, err := ParsePlaylist(text)
		if err != nil {
			b.Fatal(err)
		}
		sinkInt += len(p.Segments)
	}
}
