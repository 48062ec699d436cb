//go:build linux

package nic

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blaster sends 1316-byte datagrams (7 TS packets) to a loopback address
// with sendmmsg, 64 per call, until stopped.
type blaster struct {
	fd   int
	msgs []mmsghdr
	iovs []unix.Iovec
	buf  []byte
	stop atomic.Bool
	sent atomic.Uint64
	wg   sync.WaitGroup
}

func startBlaster(b *testing.B, to netip.AddrPort) *blaster {
	if !to.Addr().IsLoopback() {
		b.Fatalf("BUG: benchmark sends to %s, outside 127.0.0.0/8", to)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	must(b, err)
	must(b, unix.Connect(fd, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}))
	bl := &blaster{fd: fd, msgs: make([]mmsghdr, 64), iovs: make([]unix.Iovec, 64), buf: payload(1, 6)}
	for i := range bl.msgs {
		bl.iovs[i].Base = &bl.buf[0]
		bl.iovs[i].SetLen(len(bl.buf))
		bl.msgs[i].hdr.Iov = &bl.iovs[i]
		bl.msgs[i].hdr.SetIovlen(1)
	}
	bl.wg.Add(1)
	go func() {
		defer bl.wg.Done()
		for !bl.stop.Load() {
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&bl.msgs[0])), uintptr(len(bl.msgs)), 0, 0, 0)
			if errno != 0 && errno != unix.EINTR {
				panic(fmt.Sprintf("sendmmsg: %v", errno))
			}
			bl.sent.Add(uint64(r))
		}
	}()
	return bl
}

func (bl *blaster) close() {
	bl.stop.Store(true)
	bl.wg.Wait()
	unix.Close(bl.fd)
}

// BenchmarkReadBatch receives b.N datagrams of 1316 bytes from a sendmmsg
// sender on loopback, 64 per ReadBatch, sleeping in a Poller when the queue
// is empty, and reports datagrams/s. Raw uses RawSyscall6 (what ReadBatch
// does), Syscall uses Syscall6.
func BenchmarkReadBatch(b *testing.B) {
	for _, raw := range []bool{true, false} {
		name := map[bool]string{true: "Raw", false: "Syscall"}[raw]
		b.Run(name, func(b *testing.B) {
			port := freePort(b)
			c := listenT(b, fmt.Sprintf("udp://127.0.0.1:%d", port), Options{})
			p := newPollerT(b)
			must(b, p.Add(c.Fd(), 1))
			batch := NewBatch(64, 2048)
			tags := make([]uint32, 1)
			bl := startBlaster(b, c.Source().Addr)
			defer bl.close()
			b.ReportAllocs()
			b.SetBytes(1316)
			b.ResetTimer()
			start := time.Now()
			got, calls, sink := 0, 0, 0
			for got < b.N {
				n, err := c.readBatch(batch, raw)
				if err != nil {
					b.Fatal(err)
				}
				calls++
				if n == 0 {
					if _, err := p.Wait(tags, 100*time.Millisecond); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for i := range n {
					sink += len(batch.Msg(i))
				}
				got += n
			}
			el := time.Since(start)
			b.StopTimer()
			if sink < got*1316 {
				b.Fatalf("received %d bytes in %d datagrams", sink, got)
			}
			b.ReportMetric(float64(got)/el.Seconds(), "datagrams/s")
			b.ReportMetric(float64(got)/float64(calls), "datagrams/call")
			b.ReportMetric(float64(c.Drops()), "kernel-drops")
		})
	}
}

// BenchmarkRecvmmsgEmpty measures one recvmmsg on an empty socket (EAGAIN):
// the cost of the system call itself through RawSyscall6 and Syscall6.
func BenchmarkRecvmmsgEmpty(b *testing.B) {
	for _, raw := range []bool{true, false} {
		name := map[bool]string{true: "Raw", false: "Syscall"}[raw]
		b.Run(name, func(b *testing.B) {
			c := listenT(b, fmt.Sprintf("udp://127.0.0.1:%d", freePort(b)), Options{})
			batch := NewBatch(64, 2048)
			b.ReportAllocs()
			for b.Loop() {
				if n, err := c.readBatch(batch, raw); n != 0 || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}
