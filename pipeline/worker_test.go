package pipeline

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// The whole receive path of a worker, recvmmsg into the batch, TS parse,
// splice into slabs, commit and wake-ups, allocates nothing per batch.
// Unicast on 127.0.0.1: no namespace needed.
func TestWorkerReadAllocations(t *testing.T) {
	w, err := newWorker(0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.poller.Close()
	pool := testPool(t, MinMemory)
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uc.LocalAddr().(*net.UDPAddr).Port
	uc.Close()
	cfg := config.Stream{Name: "t", SegmentDuration: 60 * time.Second, SegmentCount: 6, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: fmt.Sprintf("udp://127.0.0.1:%d", port)}}}
	s := newStream(cfg, pool, t.Logf, epoch)
	s.w = w
	w.add(s)
	src, err := nic.ParseURL(cfg.Inputs[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nic.Listen(src, nic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !w.attach(s, 0, s.gen.Load(), conn, nil) {
		t.Fatal("attach failed")
	}
	defer w.remove(s)
	in := w.slots[s.inputs[0].tag]
	// A live reader is attached, so commits also wake someone.
	_, cancel := s.Subscribe()
	defer cancel()

	out, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	clip := readClip(t, "h264_aac.ts")
	const dg = 7 * ts.PacketSize
	off := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := out.Write(clip[off : off+dg]); err != nil {
				t.Fatal(err)
			}
			off += dg
		}
	}
	now := epoch
	send(64) // PSI and the first keyframe: the segment opens
	in.read(w.batch, now)
	before := s.Stats().Count[Datagrams]
	allocs := testing.AllocsPerRun(8, func() {
		send(batchCount)
		now = now.Add(100 * time.Millisecond)
		in.read(w.batch, now)
	})
	got := s.Stats().Count[Datagrams] - before
	if got != 9*batchCount {
		t.Fatalf("read %d datagrams, sent %d", got, 9*batchCount)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of %d datagrams, want 0", allocs, batchCount)
	}
	if s.seg.state != inSeg {
		t.Fatal("the measured stretch was not inside a segment")
	}
}
