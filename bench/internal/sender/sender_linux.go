package sender

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/internal/testnet"
)

// Batch is the number of datagrams per sendmmsg call.
const Batch = 64

// maxBacklog is how far (in datagrams) a paced sender may fall behind its
// schedule and catch up in a burst; further behind (the thread was
// preempted), it forgets the backlog rather than burst it, and falls short
// of its target rate, which the caller sees in Result.
const maxBacklog = 16 * Batch

// ErrNotIsolated is returned by Socket outside a private network namespace.
var ErrNotIsolated = errors.New("refusing to send multicast outside a private network namespace")

// Check reports whether a benchmark may send from cpu to a receiver on
// other: inside a private network namespace, on two distinct usable cores.
func Check(cpu, other int) error {
	if !testnet.Isolated() {
		return ErrNotIsolated
	}
	return proc.TwoCores(cpu, other)
}

// Socket opens a UDP socket for sending multicast: TTL 1, looped back, a
// 4 MiB send buffer. Its errors name the failing step ("sender socket: …",
// "sender IP_MULTICAST_TTL: …") for the caller to prefix.
func Socket() (int, error) {
	if !testnet.Isolated() {
		return -1, ErrNotIsolated
	}
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

// Dial is Socket connected to one IPv4 multicast group.
func Dial(group netip.AddrPort) (int, error) {
	if !group.Addr().Is4() || !group.Addr().IsMulticast() {
		return -1, fmt.Errorf("sender: %v is not an IPv4 multicast group", group)
	}
	fd, err := Socket()
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(group.Port()), Addr: group.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("sender connect %v: %w", group, err)
	}
	return fd, nil
}

// Groups returns n multicast groups on distinct ports: 239.10.x.y:20000+i.
// Distinct ports let /proc/net/udp tell every channel's socket apart.
func Groups(n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range n {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{239, 10, byte(i / 250), byte(i%250 + 1)}), uint16(20000+i))
	}
	return out
}

// GroupsOnPort returns n multicast groups on one port, 239.10.x.y:port:
// the usual layout of an IPTV headend's channels (every group on 1234, say),
// where one socket of the receiver can take them all.
func GroupsOnPort(n int, port uint16) []netip.AddrPort {
	out := Groups(n)
	for i, g := range out {
		out[i] = netip.AddrPortFrom(g.Addr(), port)
	}
	return out
}

// mmsghdr is struct mmsghdr from <sys/socket.h>, which x/sys/unix does not
// define: a msghdr and the byte count the kernel fills in, padded to the
// msghdr's alignment.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Sender drives groups from one socket; see the package doc.
type Sender struct {
	fd    int
	cpu   int
	buf   *feed.Buffer
	addrs []unix.RawSockaddrInet4 // the groups; not set on the messages of a connected socket
	conn  bool
	gso   int // datagrams a message (UDP GSO), 0 or 1 for one
	burst int // datagrams of one group a message with many groups (EnableBursts)
	// Gentle makes a paced sender sleep through every wait instead of
	// spinning the short ones: for background load on a core that
	// measuring threads share, at the cost of bursts of the time slept.
	Gentle bool
	idx    int // next datagram of the buffer
	group  int // next group for datagram idx
	sent   []uint64
	msgs   [Batch]mmsghdr
	iovs   [Batch]unix.Iovec
}

// New opens the sending socket for groups (IPv4 multicast), to be run from
// a thread pinned to cpu. The Sender advances buf as it sends it.
func New(groups []netip.AddrPort, cpu int, buf *feed.Buffer) (*Sender, error) {
	if len(groups) == 0 {
		return nil, errors.New("sender: needs at least one group")
	}
	s := &Sender{fd: -1, cpu: cpu, buf: buf, sent: make([]uint64, len(groups)), conn: len(groups) == 1}
	for _, g := range groups {
		if !g.Addr().Is4() || !g.Addr().IsMulticast() {
			return nil, fmt.Errorf("sender: %v is not an IPv4 multicast group", g)
		}
		var sa unix.RawSockaddrInet4
		sa.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(g.Port()>>8), byte(g.Port())
		sa.Addr = g.Addr().As4()
		s.addrs = append(s.addrs, sa)
	}
	var err error
	if s.conn {
		s.fd, err = Dial(groups[0])
	} else {
		s.fd, err = Socket()
	}
	if err != nil {
		return nil, err
	}
	for i := range s.msgs {
		s.msgs[i].hdr.Iov = &s.iovs[i]
		s.msgs[i].hdr.SetIovlen(1)
		if !s.conn {
			s.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		}
	}
	return s, nil
}

// MaxGSO is the most datagrams one message carries with EnableGSO: 49 of
// 1316 bytes stay within a UDP datagram's 65507, below the kernel's 64
// segments.
const MaxGSO = 65507 / feed.DatagramSize

// EnableGSO makes every sendmmsg message carry up to MaxGSO datagrams of
// one group (UDP generic segmentation offload: the kernel cuts them), so
// the sender spends a system call on thousands of datagrams and outruns any
// receiver. Only for one group (a connected socket).
func (s *Sender) EnableGSO() error {
	if !s.conn {
		return errors.New("sender: UDP GSO needs one group")
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_UDP, unix.UDP_SEGMENT, feed.DatagramSize); err != nil {
		return fmt.Errorf("sender UDP_SEGMENT: %w", err)
	}
	s.gso = MaxGSO
	return nil
}

// EnableBursts makes each sendmmsg message of a sender of many groups
// carry up to m consecutive datagrams of one group (UDP GSO: the kernel cuts
// them), so that one core sends a few Gbit/s of many channels: each group
// then gets its datagrams m at a time, back to back. m is at most MaxGSO.
func (s *Sender) EnableBursts(m int) error {
	if m < 2 || m > MaxGSO {
		return fmt.Errorf("sender: bursts of %d datagrams", m)
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_UDP, unix.UDP_SEGMENT, feed.DatagramSize); err != nil {
		return fmt.Errorf("sender UDP_SEGMENT: %w", err)
	}
	s.burst = m
	return nil
}

// Close closes the socket.
func (s *Sender) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// Result is what one Run of the sender did.
type Result struct {
	PerGroup []uint64      // datagrams sendmmsg accepted, per group
	Sent     uint64        // their sum
	Elapsed  time.Duration // sending time
	Errors   uint64        // sendmmsg calls that failed (ENOBUFS and the like)
}

// Run sends for d with every group at perGroup datagrams per second (0: as
// fast as it can), paced by a token bucket for all groups together, from
// a thread pinned to the sender's CPU. It stops early when ctx ends.
func (s *Sender) Run(ctx context.Context, perGroup float64, d time.Duration) (Result, error) {
	type out struct {
		r   Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		var r Result
		err := proc.OnCPU(s.cpu, func() error {
			var err error
			r, err = s.loop(ctx, perGroup*float64(len(s.addrs)), d)
			return err
		})
		ch <- out{r, err}
	}()
	o := <-ch
	return o.r, o.err
}

func (s *Sender) loop(ctx context.Context, rate float64, d time.Duration) (Result, error) {
	var r Result
	before := append([]uint64(nil), s.sent...)
	finish := func(start time.Time) {
		r.Elapsed = time.Since(start)
		r.PerGroup = make([]uint64, len(s.sent))
		for i := range s.sent {
			r.PerGroup[i] = s.sent[i] - before[i]
			r.Sent += r.PerGroup[i]
		}
	}
	start := time.Now()
	origin := start // the token bucket's start; moves when a backlog is forgiven
	var paced uint64
	// A paced batch covers at most about a millisecond of the schedule, so
	// that low aggregate rates are paced smoothly too.
	per := uint64(max(1, s.gso, s.burst)) // datagrams a message
	limit := uint64(Batch) * per
	if rate > 0 {
		limit = uint64(min(float64(limit), max(1, rate/1000)))
	}
	done := ctx.Done()
	for {
		now := time.Now()
		if now.Sub(start) >= d {
			break
		}
		select {
		case <-done:
			finish(start)
			return r, ctx.Err()
		default:
		}
		if rate > 0 {
			due := uint64(now.Sub(origin).Seconds() * rate)
			if due > paced+maxBacklog {
				origin = origin.Add(time.Duration(float64(due-paced-maxBacklog) / rate * float64(time.Second)))
				due = paced + maxBacklog
			}
			if due < paced+limit {
				at := origin.Add(time.Duration(float64(paced+limit) / rate * float64(time.Second)))
				// Sleeping overshoots by tens of microseconds or more on a
				// busy machine: sleep only long waits, spin the rest (the
				// sender has its core to itself).
				if wait := time.Until(at); s.Gentle && wait > 0 {
					time.Sleep(wait)
				} else if wait > 2*time.Millisecond {
					time.Sleep(wait - time.Millisecond)
				}
				continue
			}
		}
		n, err := s.batch(int(limit))
		if err != nil {
			r.Errors++
			if r.Errors > 1000 {
				finish(start)
				return r, err
			}
			continue
		}
		paced += uint64(n)
	}
	finish(start)
	return r, nil
}

// batch sends up to limit datagrams (at most Batch messages) with one
// sendmmsg, never past the end of the buffer (whose bytes Advance
// rewrites).
func (s *Sender) batch(limit int) (int, error) {
	if s.gso > 1 {
		return s.batchGSO(limit)
	}
	if s.burst > 1 {
		return s.batchBursts(limit)
	}
	idx, g := s.idx, s.group
	k := 0
	for k < limit && idx < s.buf.Datagrams() {
		d := s.buf.Datagram(idx)
		s.iovs[k].Base = &d[0]
		s.iovs[k].SetLen(len(d))
		if !s.conn {
			s.msgs[k].hdr.Name = (*byte)(unsafe.Pointer(&s.addrs[g]))
		}
		k++
		if g++; g == len(s.addrs) {
			g = 0
			idx++
		}
	}
	n, err := s.send(k)
	if err != nil {
		return 0, fmt.Errorf("sender: sendmmsg: %w", err)
	}
	for range n {
		s.sent[s.group]++
		if s.group++; s.group == len(s.addrs) {
			s.group = 0
			s.idx++
		}
	}
	if s.idx == s.buf.Datagrams() {
		s.buf.Advance()
		s.idx = 0
	}
	return n, nil
}

// batchBursts is batch for a sender of many groups with EnableBursts: each
// message is a run of up to burst consecutive datagrams of the buffer for
// one group; every group gets the same run before the buffer moves on.
func (s *Sender) batchBursts(limit int) (int, error) {
	var runs [Batch]int
	idx, g, k, planned := s.idx, s.group, 0, 0
	for k < Batch && planned < limit && idx < s.buf.Datagrams() {
		m := min(s.burst, s.buf.Datagrams()-idx)
		first := s.buf.Datagram(idx)
		s.iovs[k].Base = &first[0]
		s.iovs[k].SetLen(m * feed.DatagramSize)
		s.msgs[k].hdr.Name = (*byte)(unsafe.Pointer(&s.addrs[g]))
		runs[k] = m
		planned += m
		k++
		if g++; g == len(s.addrs) {
			g = 0
			idx += m
		}
	}
	n, err := s.send(k)
	// The messages' lengths are the runs'; reset them for batch.
	for i := range s.iovs[:k] {
		s.iovs[i].SetLen(feed.DatagramSize)
	}
	if err != nil {
		return 0, fmt.Errorf("sender: sendmmsg: %w", err)
	}
	sent := 0
	for _, m := range runs[:n] {
		s.sent[s.group] += uint64(m)
		sent += m
		if s.group++; s.group == len(s.addrs) {
			s.group = 0
			s.idx += m
		}
	}
	if s.idx >= s.buf.Datagrams() {
		s.buf.Advance()
		s.idx = 0
	}
	return sent, nil
}

// batchGSO is batch for a GSO socket: each message is a run of up to gso
// consecutive datagrams of the buffer, which lie back to back in memory.
func (s *Sender) batchGSO(limit int) (int, error) {
	var runs [Batch]int
	idx, k, left := s.idx, 0, limit
	for k < Batch && left > 0 && idx < s.buf.Datagrams() {
		m := min(s.gso, left, s.buf.Datagrams()-idx)
		first := s.buf.Datagram(idx)
		s.iovs[k].Base = &first[0]
		s.iovs[k].SetLen(m * feed.DatagramSize)
		runs[k] = m
		idx, left = idx+m, left-m
		k++
	}
	n, err := s.send(k)
	if err != nil {
		return 0, fmt.Errorf("sender: sendmmsg: %w", err)
	}
	sent := 0
	for _, m := range runs[:n] {
		sent += m
	}
	s.sent[0] += uint64(sent)
	s.idx += sent
	if s.idx == s.buf.Datagrams() {
		s.buf.Advance()
		s.idx = 0
	}
	return sent, nil
}

// send sends the first k messages with one sendmmsg, retrying on EINTR,
// and returns how many the kernel accepted; the error is the bare errno.
func (s *Sender) send(k int) (int, error) {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msgs[0])), uintptr(k), 0, 0, 0)
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
