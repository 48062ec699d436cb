package pipeline

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
)

// Replace swaps a stream for its new configuration with no moment at which
// Lookup finds nothing by its name (a player asking then would hear 404):
// until the new stream is on its worker Lookup gives the old one, stopped.
// Each replacement stops the old stream, and the new one receives.
func TestReplace(t *testing.T) {
	p, err := New(Options{CPUs: []int{0}, Memory: MinMemory, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uc.LocalAddr().(*net.UDPAddr).Port
	uc.Close()
	cfg := config.Stream{Name: "ch", SegmentDuration: time.Second, SegmentCount: 4, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: fmt.Sprintf("udp://127.0.0.1:%d", port)}}}
	if err := p.Replace(cfg); err != nil { // nothing to replace: a start
		t.Fatal(err)
	}
	if err := p.Start(cfg); !errors.Is(err, ErrExists) {
		t.Fatalf("Start of a running name: %v, want ErrExists", err)
	}
	var missing atomic.Int64
	var lookups atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if p.Lookup("ch") == nil {
					missing.Add(1)
				}
				lookups.Add(1)
			}
		})
	}
	in, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	pkt := make([]byte, 7*188)
	for i := range 7 {
		pkt[i*188] = 0x47
		pkt[i*188+1], pkt[i*188+2], pkt[i*188+3] = 0x1f, 0xff, 0x10 // null packets
	}
	for i := range 20 {
		old := p.Lookup("ch")
		cfg.SegmentCount = 4 + i%3
		if err := p.Replace(cfg); err != nil {
			t.Fatal(err)
		}
		select {
		case <-old.Stopped():
		default:
			t.Fatalf("replacement %d: the old stream was not stopped", i)
		}
		cur := p.Lookup("ch")
		if cur == old || cur.Config().SegmentCount != cfg.SegmentCount {
			t.Fatalf("replacement %d: Lookup gives the old stream", i)
		}
		// The new stream has the port: what is sent now is its.
		deadline := time.Now().Add(5 * time.Second)
		for cur.Stats().Count[Datagrams] == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("replacement %d: the new stream received nothing", i)
			}
			in.Write(pkt)
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := missing.Load(); n != 0 {
		t.Errorf("Lookup found no stream %d times of %d during 20 replacements", n, lookups.Load())
	}
	if err := p.Stop("ch"); err != nil {
		t.Fatal(err)
	}
	if p.Lookup("ch") != nil {
		t.Fatal("a stopped stream is still found")
	}
}
