package latency

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/ts"
)

// pacer sends a plan's datagrams one send(2) each, paced by the clip's PCR,
// and logs when it sent each marker and keyframe. Used by one goroutine at
// a time; run pins that goroutine's thread for the length of the run.
type pacer struct {
	pl    *plan
	clk   clock
	seed  maphash.Seed
	cpu   int
	next  int    // next datagram of the buffer
	loops uint64 // times the whole buffer was sent

	markers   []sent
	keyframes []keyframe
	times     []int64       // when each datagram of the last run was sent
	late      time.Duration // the most a datagram was sent after it was due
}

func newPacer(pl *plan, clk clock, seed maphash.Seed, cpu int) *pacer {
	return &pacer{pl: pl, clk: clk, seed: seed, cpu: cpu}
}

// run sends to fd until the clock passes end (which others may move while
// it runs), continuing the clip where the last run left it. The logs are
// reset first; capacity is for d of sending.
func (s *pacer) run(ctx context.Context, fd int, end *atomic.Int64, d time.Duration) error {
	rate := float64(s.pl.clip.Datagrams()) / s.pl.loop.Seconds()
	want := int(rate*d.Seconds()*1.1) + 64
	s.markers = slices0(s.markers, want)
	s.keyframes = s.keyframes[:0]
	if cap(s.times) < want {
		s.times = make([]int64, 0, want)
	}
	s.times = s.times[:0]
	s.late = 0
	return pinned(s.cpu, func() error { return s.loop(ctx, fd, end) }).wait()
}

func slices0(b []sent, n int) []sent {
	if cap(b) < n {
		return make([]sent, 0, n)
	}
	return b[:0]
}

func (s *pacer) offset() time.Duration {
	return time.Duration(s.loops)*s.pl.loop + s.pl.due[s.next]
}

func (s *pacer) loop(ctx context.Context, fd int, end *atomic.Int64) error {
	pl := s.pl
	origin := s.clk.now() - int64(s.offset()) // clock time of offset 0
	done := ctx.Done()
	var pes ts.PESHeader
	for {
		due := origin + int64(s.offset())
		if due >= end.Load() {
			return nil
		}
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		if wait := due - s.clk.now(); wait > 0 {
			sl := unix.NsecToTimespec(wait)
			unix.Nanosleep(&sl, nil)
		}
		dg := pl.clip.Datagram(s.next)
		at := s.clk.now()
		if late := time.Duration(at - due); late > s.late {
			s.late = late
		}
		if _, err := unix.Write(fd, dg); err != nil && err != unix.EINTR {
			return fmt.Errorf("latency: send: %w", err)
		}
		s.times = append(s.times, at)
		if m := pl.marker[s.next]; m >= 0 {
			s.markers = append(s.markers, sent{maphash.Bytes(s.seed, dg[m:int(m)+ts.PacketSize]), at})
		}
		if pl.keyframe[s.next] {
			for off := 0; off < len(dg); off += ts.PacketSize {
				p := dg[off : off+ts.PacketSize]
				if ts.PID(p) == pl.videoPID && ts.PUSI(p) && ts.RandomAccessIndicator(p) &&
					ts.ParsePESHeader(ts.Payload(p), &pes) == nil && pes.HasPTS {
					s.keyframes = append(s.keyframes, keyframe{at, pes.PTS})
					break
				}
			}
		}
		s.next++
		if s.next == pl.clip.Datagrams() {
			pl.clip.Advance()
			s.next = 0
			s.loops++
		}
	}
}
