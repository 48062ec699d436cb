//go:build linux

package bpf

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/slabcast/slabcast/nic"
	"golang.org/x/sys/unix"
)

// BenchmarkProgramRun measures the eBPF filter alone under
// BPF_PROG_TEST_RUN (the kernel's own timing, without the system call):
// ns per datagram of 1, 7 and 15 TS packets, plain and in RTP. The
// test-run input is capped near 3000 bytes, so 15 packets is the most.
func BenchmarkProgramRun(b *testing.B) {
	needEBPF(b)
	for _, kind := range []Kind{KindTS, KindRTP} {
		for _, n := range []int{1, 7, 15} {
			b.Run(fmt.Sprintf("%s/%dx188", kind, n), func(b *testing.B) {
				prog, m, err := loadEBPF(kind, testRunPayload)
				if err != nil {
					b.Fatalf("%+v", err)
				}
				defer prog.Close()
				defer m.Close()
				payload := tsPackets(n)
				if kind == KindRTP {
					payload = cat(rtpHeader(2, 0, -1, false), payload)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				ret, per, err := prog.Benchmark(testRunData(payload), b.N, b.ResetTimer)
				if err != nil {
					b.Fatal(err)
				}
				if ret == 0 {
					b.Fatal("the filter refused a valid datagram")
				}
				b.ReportMetric(float64(per.Nanoseconds()), "ns/datagram")
			})
		}
	}
}

// mmsghdr is struct mmsghdr for sendmmsg.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// flood sends 1316-byte datagrams (7 TS packets) to 127.0.0.1:port with
// sendmmsg, 64 per call, until stop is closed; it counts what it sent.
func flood(b *testing.B, port int, stop <-chan struct{}, sent *atomic.Uint64, wg *sync.WaitGroup) {
	fd := sender(b, port)
	buf := tsPackets(7)
	msgs := make([]mmsghdr, 64)
	iovs := make([]unix.Iovec, len(msgs))
	for i := range msgs {
		iovs[i].Base = &buf[0]
		iovs[i].SetLen(len(buf))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
			if errno != 0 && errno != unix.EINTR && errno != unix.ECONNREFUSED {
				panic(fmt.Sprintf("sendmmsg: %v", errno))
			}
			sent.Add(uint64(r))
		}
	}()
}

// BenchmarkReceive is an ingest run with the filter off and on: a sender
// floods 1316-byte datagrams over loopback with sendmmsg while the
// benchmark receives b.N of them through nic (recvmmsg, 64 per call). On
// loopback the filter runs in the sender's system call, so its cost shows
// in sent/s as much as in datagrams/s received. No timing is asserted.
func BenchmarkReceive(b *testing.B) {
	modes := []struct {
		name string
		new  func() (*Filter, error)
	}{
		{"none", nil},
		{"classic", func() (*Filter, error) { return newFilter(KindTS, true) }},
		{"ebpf", func() (*Filter, error) { return New(KindTS) }},
	}
	for _, mode := range modes {
		b.Run(mode.name, func(b *testing.B) {
			var opt nic.Options
			var f *Filter
			if mode.new != nil {
				var err error
				if f, err = mode.new(); err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				if mode.name == "ebpf" && f.Mode() != ModeEBPF {
					b.Skipf("eBPF unavailable: %v", f.Why())
				}
				opt.Control = f.Attach
			}
			port := freePort(b)
			src, err := nic.ParseURL(fmt.Sprintf("udp://127.0.0.1:%d", port))
			if err != nil {
				b.Fatal(err)
			}
			c, err := nic.Listen(src, opt)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			p, err := nic.NewPoller()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if err := p.Add(c.Fd(), 1); err != nil {
				b.Fatal(err)
			}
			batch := nic.NewBatch(64, 2048)
			tags := make([]uint32, 1)

			stop := make(chan struct{})
			var sent atomic.Uint64
			var wg sync.WaitGroup
			flood(b, port, stop, &sent, &wg)
			defer wg.Wait()
			defer close(stop)

			b.ReportAllocs()
			b.SetBytes(1316)
			b.ResetTimer()
			start, sent0 := time.Now(), sent.Load()
			got, bytes := 0, 0
			for got < b.N {
				n, err := c.ReadBatch(batch)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					if _, err := p.Wait(tags, 100*time.Millisecond); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for i := range n {
					bytes += len(batch.Msg(i))
				}
				got += n
			}
			el := time.Since(start)
			b.StopTimer()
			if bytes != got*1316 {
				b.Fatalf("received %d bytes in %d datagrams", bytes, got)
			}
			b.ReportMetric(float64(got)/el.Seconds(), "datagrams/s")
			b.ReportMetric(float64(sent.Load()-sent0)/el.Seconds(), "sent/s")
			if f != nil {
				if cnt, ok, _ := f.Counts(); ok && cnt.Refused != 0 {
					b.Fatalf("the filter refused %d valid datagrams", cnt.Refused)
				}
			}
		})
	}
}
