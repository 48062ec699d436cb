package nic

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/race"
)

// Datagrams written on one goroutine come out of ReadBatch in order and
// whole, after a poller wake-up, and a full pipe holds its writer back
// rather than growing or dropping.
func TestPipe(t *testing.T) {
	p, err := NewPipe(8, 1316)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	poll, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer poll.Close()
	if err := poll.Add(p.Fd(), 7); err != nil {
		t.Fatal(err)
	}
	const total = 100
	go func() {
		for i := 0; i < total; i++ {
			if err := p.Write(bytes.Repeat([]byte{byte(i)}, 1+i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	b := NewBatch(4, 1316)
	tags := make([]uint32, 1)
	next := 0
	deadline := time.Now().Add(5 * time.Second)
	for next < total && time.Now().Before(deadline) {
		n, err := poll.Wait(tags, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			continue
		}
		k, err := p.ReadBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			if want := bytes.Repeat([]byte{byte(next)}, 1+next); !bytes.Equal(b.Msg(i), want) {
				t.Fatalf("datagram %d: %d bytes %x…", next, len(b.Msg(i)), b.Msg(i)[:1])
			}
			next++
		}
	}
	if next != total {
		t.Fatalf("read %d of %d datagrams", next, total)
	}
	// A writer blocked on a full pipe is released by Close.
	for i := 0; i < 8; i++ {
		p.Write([]byte{1})
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Write([]byte{2}) }()
	select {
	case err := <-errc:
		t.Fatalf("a write to a full pipe returned %v at once", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.Close()
	if err := <-errc; !errors.Is(err, ErrPipeClosed) {
		t.Fatalf("blocked write after Close: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed")
	}
}

func TestPipeAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("under -race the eventfd's read and write buffers escape (the detector records them)")
	}
	p, err := NewPipe(64, 1316)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := NewBatch(64, 1316)
	d := make([]byte, 1316)
	if a := testing.AllocsPerRun(100, func() {
		for i := 0; i < 32; i++ {
			p.Write(d)
		}
		p.ReadBatch(b)
	}); a != 0 {
		t.Fatalf("%v allocations per 32 datagrams", a)
	}
}

// Drain waits for the reader to take what is queued, and no longer than
// it is told.
func TestPipeDrain(t *testing.T) {
	p, err := NewPipe(8, 1316)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Drain(0) {
		t.Fatal("an empty pipe is not drained")
	}
	p.Write([]byte{1})
	p.Write([]byte{2})
	start := time.Now()
	if p.Drain(30 * time.Millisecond) {
		t.Fatal("drained with nobody reading")
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > time.Second {
		t.Fatalf("Drain returned after %v, told 30ms", d)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.ReadBatch(NewBatch(4, 1316))
	}()
	if !p.Drain(5 * time.Second) {
		t.Fatal("not drained after the reader took everything")
	}
}
