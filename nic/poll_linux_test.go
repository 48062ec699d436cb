package nic

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newPollerT(t testing.TB) *Poller {
	t.Helper()
	p, err := NewPoller()
	must(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPoller(t *testing.T) {
	p := newPollerT(t)
	port1, port2 := freePort(t), freePort(t)
	c1 := listenT(t, fmt.Sprintf("udp://127.0.0.1:%d", port1), Options{})
	c2 := listenT(t, fmt.Sprintf("udp://127.0.0.1:%d", port2), Options{})
	must(t, p.Add(c1.Fd(), 7))
	must(t, p.Add(c2.Fd(), 0xFFFFFFFF)) // every uint32 is a usable tag
	tags := make([]uint32, 8)

	// Timeout honoured, nothing reported.
	start := time.Now()
	n, err := p.Wait(tags, 50*time.Millisecond)
	must(t, err)
	if el := time.Since(start); n != 0 || el < 50*time.Millisecond || el > time.Second {
		t.Fatalf("idle Wait(50ms) = %d after %v, want 0 after 50ms", n, el)
	}
	// Zero timeout polls.
	if n, err := p.Wait(tags, 0); err != nil || n != 0 {
		t.Fatalf("Wait(0) = %d, %v", n, err)
	}

	// A ready socket is reported by its tag, level-triggered.
	s := newSender(t, "127.0.0.1")
	s.send(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port2), payload(1, 0))
	for range 2 {
		n, err = p.Wait(tags, time.Second)
		must(t, err)
		if n != 1 || tags[0] != 0xFFFFFFFF {
			t.Fatalf("Wait = %d %v, want the tag of the socket with data", n, tags[:n])
		}
	}
	s.send(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port1), payload(1, 0))
	n, err = p.Wait(tags, time.Second)
	must(t, err)
	if n != 2 || !(tags[0] == 7 && tags[1] == 0xFFFFFFFF || tags[0] == 0xFFFFFFFF && tags[1] == 7) {
		t.Fatalf("Wait = %v, want both tags", tags[:n])
	}
	// tags shorter than the ready set: the rest waits for the next call.
	n, err = p.Wait(tags[:1], time.Second)
	must(t, err)
	if n != 1 {
		t.Fatalf("Wait with room for 1 = %d", n)
	}
	// Reading empties a socket; Del stops reporting the other.
	b := NewBatch(4, 2048)
	recvN(t, c1, b, 1)
	must(t, p.Del(c2.Fd()))
	if n, err := p.Wait(tags, 20*time.Millisecond); err != nil || n != 0 {
		t.Fatalf("Wait after reading c1 and removing c2 = %v, %v; want nothing", tags[:n], err)
	}
	if err := p.Del(c2.Fd()); err == nil {
		t.Fatal("Del of an fd not watched succeeded")
	}
}

func TestPollerWake(t *testing.T) {
	p := newPollerT(t)
	tags := make([]uint32, 4)
	done := make(chan time.Duration, 1)
	var woken atomic.Bool
	go func() {
		start := time.Now()
		for {
			n, err := p.Wait(tags, -1)
			if err != nil || n != 0 {
				panic(fmt.Sprintf("woken Wait = %d, %v; want 0, nil", n, err))
			}
			// A signal (the Go runtime's preemption, say) may end a
			// Wait early, as epoll_wait's EINTR: callers loop.
			if woken.Load() {
				break
			}
		}
		done <- time.Since(start)
	}()
	time.Sleep(30 * time.Millisecond)
	woken.Store(true)
	must(t, p.Wake())
	select {
	case el := <-done:
		if el < 30*time.Millisecond {
			t.Fatalf("Wait(-1) returned after %v, before Wake", el)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wake did not interrupt Wait(-1)")
	}
	// A Wake before Wait returns it at once, and is consumed: the next
	// Wait blocks until its timeout. Many Wakes coalesce.
	for range 3 {
		must(t, p.Wake())
	}
	start := time.Now()
	if n, err := p.Wait(tags, time.Second); err != nil || n != 0 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("Wait after Wake = %d, %v after %v", n, err, time.Since(start))
	}
	// A wake left unconsumed would make every Wait return at once; a
	// signal (EINTR) ends one early now and then. So some Wait within
	// half a second must block for its whole timeout.
	blocked := false
	for deadline := time.Now().Add(500 * time.Millisecond); !blocked && time.Now().Before(deadline); {
		start = time.Now()
		if n, err := p.Wait(tags, 30*time.Millisecond); err != nil || n != 0 {
			t.Fatalf("second Wait = %d, %v", n, err)
		}
		blocked = time.Since(start) >= 25*time.Millisecond
	}
	if !blocked {
		t.Fatal("no Wait blocked after the wake was taken: the wake was not consumed")
	}
	must(t, p.Close())
	must(t, p.Close())
}

func TestPollerAllocs(t *testing.T) {
	p := newPollerT(t)
	port := freePort(t)
	c := listenT(t, fmt.Sprintf("udp://127.0.0.1:%d", port), Options{})
	must(t, p.Add(c.Fd(), 3))
	newSender(t, "127.0.0.1").send(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), payload(1, 0))
	tags := make([]uint32, 4)
	bad := 0
	allocs := testing.AllocsPerRun(100, func() {
		if n, _ := p.Wait(tags, time.Second); n != 1 || tags[0] != 3 {
			bad++
		}
	})
	if bad > 0 || allocs != 0 {
		t.Fatalf("Wait: %.1f allocs per call, %d wrong answers", allocs, bad)
	}
	allocs = testing.AllocsPerRun(100, func() {
		p.Wake()
		p.Wait(tags, time.Second)
	})
	if allocs != 0 {
		t.Fatalf("Wake+Wait: %.1f allocs per call", allocs)
	}
}

func TestPinThread(t *testing.T) {
	cpus := OnlineCPUs()
	cpu := cpus[len(cpus)-1]
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		var orig unix.CPUSet
		if err := unix.SchedGetaffinity(0, &orig); err != nil {
			done <- err
			return // still locked: the thread exits with the goroutine
		}
		if err := PinThread(cpu); err != nil {
			done <- err
			return
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			done <- err
			return
		}
		if set.Count() != 1 || !set.IsSet(cpu) {
			done <- fmt.Errorf("after PinThread(%d) the thread may run on %d CPUs", cpu, set.Count())
			return
		}
		if err := unix.SchedSetaffinity(0, &orig); err != nil {
			done <- err
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	must(t, <-done)
	if got := OnlineCPUs(); len(got) != len(cpus) {
		t.Fatalf("OnlineCPUs() = %v after pinning one thread, was %v", got, cpus)
	}
	if err := PinThread(-1); err == nil {
		t.Fatal("PinThread(-1) succeeded")
	}
	if err := PinThread(MaxCPU); err == nil {
		t.Fatal("PinThread(MaxCPU) succeeded")
	}
}
