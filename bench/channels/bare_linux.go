package channels

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/nic"
	"github.com/slabcast/slabcast/ts"
)

// bareHeadend is the floor under slabcast at N channels: one thread pinned
// to the headend's core that receives every channel and discards it, on
// shared sockets as slabcast's (the groups of a port up to the kernel's
// per-socket limit, IP_PKTINFO telling them apart; one a group when every
// channel has its own port), with the same recvmmsg batches and epoll, and
// no filter. It counts per group only to know every channel
// started.
type bareHeadend struct {
	conns  []*nic.Conn
	poller *nic.Poller
	groups map[[4]byte]int // group → index, for seen
	seen   []atomic.Bool
	got    atomic.Uint64
	tid    atomic.Int32
	stopF  atomic.Bool
	done   chan error
}

func startBare(groups []netip.AddrPort, cpu int) (*bareHeadend, error) {
	b := &bareHeadend{groups: map[[4]byte]int{}, seen: make([]atomic.Bool, len(groups)), done: make(chan error, 1)}
	var err error
	if b.poller, err = nic.NewPoller(); err != nil {
		return nil, fmt.Errorf("channels: bare loop: %w", err)
	}
	fail := func(err error) (*bareHeadend, error) {
		b.closeAll()
		return nil, fmt.Errorf("channels: bare loop: %w", err)
	}
	var cur *nic.Conn // the shared socket taking joins
	for i, g := range groups {
		b.groups[g.Addr().As4()] = i
		src, err := nic.ParseURL("udp://" + g.String())
		if err != nil {
			return fail(err)
		}
		if cur != nil && cur.Source().Addr.Port() == g.Port() {
			err := cur.Join(src)
			if err == nil {
				continue
			}
			if !errors.Is(err, nic.ErrGroupLimit) {
				return fail(err)
			}
		}
		if cur, err = nic.ListenShared(src, nic.Options{}); err != nil {
			return fail(err)
		}
		if err := b.poller.Add(cur.Fd(), uint32(len(b.conns))); err != nil {
			cur.Close()
			return fail(err)
		}
		b.conns = append(b.conns, cur)
	}
	for _, c := range b.conns {
		// A socket's worth of buffer per group, as slabcast's shared
		// sockets have.
		if _, err := c.SetRecvBuffer(nic.DefaultRecvBuffer * max(1, len(groups)/len(b.conns))); err != nil {
			return fail(err)
		}
	}
	ready := make(chan error, 1)
	go b.run(cpu, ready)
	if err := <-ready; err != nil {
		b.closeAll()
		return nil, err
	}
	return b, nil
}

func (b *bareHeadend) run(cpu int, ready chan<- error) {
	// Ends locked: the pinned thread exits with the goroutine.
	runtime.LockOSThread()
	if err := nic.PinThread(cpu); err != nil {
		err = fmt.Errorf("channels: bare loop: %w", err)
		ready <- err
		b.done <- err
		return
	}
	b.tid.Store(int32(unix.Gettid()))
	ready <- nil
	batch := nic.NewBatch(64, ts.PacketSize*48)
	tags := make([]uint32, len(b.conns))
	for !b.stopF.Load() {
		n, err := b.poller.Wait(tags, 100*time.Millisecond)
		if err != nil {
			b.done <- err
			return
		}
		for _, t := range tags[:n] {
			c := b.conns[t]
			for {
				k, err := c.ReadBatch(batch)
				if err != nil {
					b.done <- err
					return
				}
				b.got.Add(uint64(k))
				for i := 0; i < k; i++ {
					if g, ok := batch.Dst(i); ok {
						if j, ok := b.groups[g]; ok && !b.seen[j].Load() {
							b.seen[j].Store(true)
						}
					}
				}
				if k < batch.Cap() {
					break
				}
			}
		}
	}
	b.done <- nil
}

// cpu is the receiving thread's utime+stime, as slabcast's and ffmpeg's
// process CPU is counted.
func (b *bareHeadend) cpu() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", b.tid.Load()))
	if err != nil {
		return 0, err
	}
	u, s, err := proc.StatTimes(raw)
	if err != nil {
		return 0, err
	}
	return proc.Ticks(u + s), nil
}

func (b *bareHeadend) progress() (uint64, error) { return b.got.Load(), nil }

func (b *bareHeadend) ready() (int, error) {
	k := 0
	for i := range b.seen {
		if b.seen[i].Load() {
			k++
		}
	}
	return k, nil
}

func (b *bareHeadend) alive() int { return 1 }

func (b *bareHeadend) stop() {
	b.stopF.Store(true)
	b.poller.Wake()
	<-b.done
	b.closeAll()
}

func (b *bareHeadend) closeAll() {
	for _, c := range b.conns {
		c.Close()
	}
	b.poller.Close()
}
