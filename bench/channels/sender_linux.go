package channels

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/ingest"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/nic"
)

// SendBatch is the number of datagrams per sendmmsg call.
const SendBatch = ingest.SendBatch

// maxBacklog is how far (in datagrams) a paced sender may fall behind its
// schedule and catch up in a burst; further behind (the thread was
// preempted), it forgets the backlog rather than burst it, and falls short
// of its target rate, which the caller sees in SendResult.
const maxBacklog = 16 * SendBatch

// Sender drives many multicast groups from one unconnected UDP socket with
// sendmmsg, each message addressed to its own group. The groups are sent in
// lockstep from one Clip: datagram i of the clip goes to group 0, 1, …, N-1,
// then datagram i+1, so one looped buffer serves every channel and each
// channel sees the clip's stream, continuous and seamless, at the same
// rate. One goroutine at a time uses a Sender; Run pins its thread to the
// sender's CPU.
type Sender struct {
	fd    int
	cpu   int
	clip  *feed.Buffer
	addrs []unix.RawSockaddrInet4
	idx   int // next datagram of the clip
	group int // next group for datagram idx
	sent  []uint64
	b     ingest.MsgBatch
}

// NewSender opens the sending socket for groups (IPv4 multicast, TTL 1,
// looped back), to be run from a thread pinned to cpu.
func NewSender(groups []netip.AddrPort, cpu int, clip *feed.Buffer) (*Sender, error) {
	if len(groups) == 0 {
		return nil, errors.New("channels: sender needs at least one group")
	}
	s := &Sender{fd: -1, cpu: cpu, clip: clip, sent: make([]uint64, len(groups))}
	for _, g := range groups {
		if !g.Addr().Is4() || !g.Addr().IsMulticast() {
			return nil, fmt.Errorf("channels: sender: %v is not an IPv4 multicast group", g)
		}
		var sa unix.RawSockaddrInet4
		sa.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(g.Port()>>8), byte(g.Port())
		sa.Addr = g.Addr().As4()
		s.addrs = append(s.addrs, sa)
	}
	fd, err := ingest.SenderSocket()
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	s.fd = fd
	s.b.Init()
	return s, nil
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

// Groups is the number of groups the sender drives.
func (s *Sender) Groups() int { return len(s.addrs) }

// SendResult is what one Run of the sender did.
type SendResult struct {
	PerGroup []uint64      // datagrams sendmmsg accepted, per group
	Sent     uint64        // their sum
	Elapsed  time.Duration // sending time
	Errors   uint64        // sendmmsg calls that failed (ENOBUFS and the like)
}

// Run sends for d with every group at perGroup datagrams per second, paced
// by a token bucket for all groups together, from a thread pinned to the
// sender's CPU. It stops early when ctx ends.
func (s *Sender) Run(ctx context.Context, perGroup float64, d time.Duration) (SendResult, error) {
	if perGroup <= 0 {
		return SendResult{}, errors.New("channels: sender rate must be positive")
	}
	type out struct {
		r   SendResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		// The thread is pinned for the run and given back with its old
		// affinity, not ended: a thread that ends would fire the
		// Pdeathsig of any child process it happened to fork (the daemon,
		// ffmpeg). Should restoring fail, the goroutine ends locked and
		// the runtime drops the pinned thread.
		runtime.LockOSThread()
		var old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			ch <- out{err: fmt.Errorf("channels: sender: %w", err)}
			return
		}
		if err := nic.PinThread(s.cpu); err != nil {
			ch <- out{err: fmt.Errorf("channels: sender: %w", err)}
			return
		}
		r, err := s.loop(ctx, perGroup*float64(len(s.addrs)), d)
		if unix.SchedSetaffinity(0, &old) == nil {
			runtime.UnlockOSThread()
		}
		ch <- out{r, err}
	}()
	o := <-ch
	return o.r, o.err
}

func (s *Sender) loop(ctx context.Context, rate float64, d time.Duration) (SendResult, error) {
	var r SendResult
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
	// A batch covers at most about a millisecond of the schedule, so that
	// low aggregate rates are paced smoothly too.
	limit := uint64(min(SendBatch, max(1, rate/1000)))
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
		due := uint64(now.Sub(origin).Seconds() * rate)
		if due > paced+maxBacklog {
			origin = origin.Add(time.Duration(float64(due-paced-maxBacklog) / rate * float64(time.Second)))
			due = paced + maxBacklog
		}
		if due < paced+limit {
			at := origin.Add(time.Duration(float64(paced+limit) / rate * float64(time.Second)))
			// Sleeping overshoots by tens of microseconds or more on a busy
			// machine: sleep only long waits, spin the rest (the sender has
			// its core to itself).
			if wait := time.Until(at); wait > 2*time.Millisecond {
				time.Sleep(wait - time.Millisecond)
			}
			continue
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

// batch sends up to limit (at most SendBatch) datagrams with one sendmmsg,
// never past the end of the clip's buffer (whose bytes Advance rewrites).
func (s *Sender) batch(limit int) (int, error) {
	idx, g := s.idx, s.group
	k := 0
	for k < limit && idx < s.clip.Datagrams() {
		s.b.Set(k, s.clip.Datagram(idx))
		s.b.SetAddr(k, &s.addrs[g])
		k++
		if g++; g == len(s.addrs) {
			g = 0
			idx++
		}
	}
	n, err := s.b.Send(s.fd, k)
	if err != nil {
		return 0, fmt.Errorf("channels: sendmmsg: %w", err)
	}
	for range n {
		s.sent[s.group]++
		if s.group++; s.group == len(s.addrs) {
			s.group = 0
			s.idx++
		}
	}
	if s.idx == s.clip.Datagrams() {
		s.clip.Advance()
		s.idx = 0
	}
	return n, nil
}
