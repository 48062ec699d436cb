package ingest

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/nic"
)

// SendBatch is the number of datagrams per sendmmsg call.
const SendBatch = 64

// mmsghdr is struct mmsghdr from <sys/socket.h>, which x/sys/unix does not
// define: a msghdr and the byte count the kernel fills in, padded to the
// msghdr's alignment.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// MsgBatch holds up to SendBatch datagrams for one sendmmsg call, each in
// one iovec. Call Init once, where the batch will stay: its headers point
// into it.
type MsgBatch struct {
	msgs [SendBatch]mmsghdr
	iovs [SendBatch]unix.Iovec
}

// Init points each message at its iovec.
func (b *MsgBatch) Init() {
	for i := range b.msgs {
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.SetIovlen(1)
	}
}

// Set makes message i carry d (which must stay valid until Send).
func (b *MsgBatch) Set(i int, d []byte) {
	b.iovs[i].Base = &d[0]
	b.iovs[i].SetLen(len(d))
}

// SetAddr addresses message i to sa (which must stay valid until Send), for
// an unconnected socket.
func (b *MsgBatch) SetAddr(i int, sa *unix.RawSockaddrInet4) {
	b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(sa))
	b.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
}

// Send sends the first k messages with one sendmmsg on fd, retrying on
// EINTR, and returns how many the kernel accepted; the error is the bare
// errno.
func (b *MsgBatch) Send(fd, k int) (int, error) {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(k), 0, 0, 0)
		switch errno {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// SenderSocket opens a UDP socket for sending multicast: TTL 1, looped
// back, a 4 MiB send buffer. Its errors name the failing step ("sender
// socket: …", "sender IP_MULTICAST_TTL: …") for the caller to prefix.
func SenderSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("sender socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("sender %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1); err != nil {
		return fail("IP_MULTICAST_TTL", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1); err != nil {
		return fail("IP_MULTICAST_LOOP", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20); err != nil {
			return fail("SO_SNDBUF", err)
		}
	}
	return fd, nil
}

// sender floods a Buffer's datagrams to one group with sendmmsg. It is used by
// one goroutine at a time; send locks that goroutine to a thread pinned to
// the sender's CPU for the length of one run.
type sender struct {
	fd   int
	cpu  int
	clip *feed.Buffer
	next int // next datagram of the clip to send
	b    MsgBatch
}

func newSender(group netip.AddrPort, cpu int, clip *feed.Buffer) (*sender, error) {
	fd, err := SenderSocket()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	sa := &unix.SockaddrInet4{Port: int(group.Port()), Addr: group.Addr().As4()}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ingest: sender connect %v: %w", group, err)
	}
	s := &sender{fd: fd, cpu: cpu, clip: clip}
	s.b.Init()
	return s, nil
}

func (s *sender) close() { unix.Close(s.fd) }

// sendResult is what one run of the sender did.
type sendResult struct {
	sent    uint64
	elapsed time.Duration
	errors  uint64 // sendmmsg calls that failed (ENOBUFS and the like)
}

// maxBacklog is how far (in datagrams) a paced sender may fall behind its
// schedule and catch up in a burst; further behind (the thread was
// preempted), it forgets the backlog rather than burst it.
const maxBacklog = 16 * SendBatch

// run sends for d at rate datagrams per second (0: as fast as it can) from a
// thread pinned to the sender's CPU, paced by a token bucket in batches of
// SendBatch. It stops early when ctx ends.
func (s *sender) run(ctx context.Context, rate float64, d time.Duration) (sendResult, error) {
	type out struct {
		r   sendResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		// The goroutine ends locked, so its pinned thread is not reused.
		runtime.LockOSThread()
		if err := nic.PinThread(s.cpu); err != nil {
			ch <- out{err: fmt.Errorf("ingest: sender: %w", err)}
			return
		}
		r, err := s.loop(ctx, rate, d)
		ch <- out{r, err}
	}()
	o := <-ch
	return o.r, o.err
}

func (s *sender) loop(ctx context.Context, rate float64, d time.Duration) (sendResult, error) {
	var r sendResult
	start := time.Now()
	origin := start // the token bucket's start; moves when a backlog is forgiven
	var due uint64  // datagrams the schedule has released since origin, less forgiven ones
	var paced uint64
	done := ctx.Done()
	for {
		now := time.Now()
		if now.Sub(start) >= d {
			break
		}
		select {
		case <-done:
			r.elapsed = time.Since(start)
			return r, ctx.Err()
		default:
		}
		if rate > 0 {
			due = uint64(now.Sub(origin).Seconds() * rate)
			if due > paced+maxBacklog {
				origin = origin.Add(time.Duration(float64(due-paced-maxBacklog) / rate * float64(time.Second)))
				due = paced + maxBacklog
			}
			if due < paced+SendBatch {
				at := origin.Add(time.Duration(float64(paced+SendBatch) / rate * float64(time.Second)))
				// Sleeping overshoots by tens of microseconds or more on a
				// busy machine: sleep only long waits, spin the rest (the
				// sender has its core to itself).
				if wait := time.Until(at); wait > 2*time.Millisecond {
					time.Sleep(wait - time.Millisecond)
				}
				continue
			}
		}
		n, err := s.batch()
		if err != nil {
			r.errors++
			if r.errors > 1000 {
				r.elapsed = time.Since(start)
				return r, err
			}
			continue
		}
		r.sent += uint64(n)
		paced += uint64(n)
	}
	r.elapsed = time.Since(start)
	return r, nil
}

// batch sends up to SendBatch datagrams with one sendmmsg, never past the
// end of the clip's buffer (whose bytes Advance rewrites).
func (s *sender) batch() (int, error) {
	k := min(SendBatch, s.clip.Datagrams()-s.next)
	for i := range k {
		s.b.Set(i, s.clip.Datagram(s.next+i))
	}
	n, err := s.b.Send(s.fd, k)
	if err != nil {
		return 0, fmt.Errorf("ingest: sendmmsg: %w", err)
	}
	s.next += n
	if s.next == s.clip.Datagrams() {
		s.clip.Advance()
		s.next = 0
	}
	return n, nil
}
