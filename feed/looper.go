package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// Looper yields a clip's packets, rewritten for their pass when looping,
// with their due times on one continuous 27 MHz timeline.
type Looper struct {
	c      *Clip
	loop   bool
	pass   int64
	pos    int
	lastCC [ts.MaxPID + 1]uint8 // last CC sent per PID, for PCR-only fillers
}

// NewLooper reads c once through, or for ever when loop is set.
func NewLooper(c *Clip, loop bool) *Looper {
	return &Looper{c: c, loop: loop}
}

// Pass is the pass the last packet Next returned belongs to.
func (l *Looper) Pass() int64 { return l.pass }

// Next copies the next packet into dst (188 bytes) and returns its due
// time; ok is false at the end of the clip when not looping. It does not
// allocate.
func (l *Looper) Next(dst []byte) (due int64, ok bool) {
	c := l.c
	if !l.loop {
		if l.pos >= c.n {
			return 0, false
		}
		copy(dst, c.packet(l.pos))
		due = c.at[l.pos]
		l.pos++
		return due, true
	}
	for {
		if l.pos == len(c.sched) {
			l.pos = 0
			l.pass++
		}
		e := c.sched[l.pos]
		l.pos++
		if e.lead && l.pass == 0 {
			continue
		}
		shift := l.pass * c.loopTicks
		if e.idx < 0 {
			l.filler(dst, c.firstPCR+uint64(shift+e.at))
			return shift + e.at, true
		}
		p := dst[:ts.PacketSize]
		copy(p, c.packet(int(e.idx)))
		c.shift(p, uint64(l.pass), true)
		l.lastCC[ts.PID(p)] = ts.CC(p)
		return shift + e.at, true
	}
}

// filler writes an adaptation-only packet carrying pcr on the PCR PID. Its
// CC repeats the PID's last one, as 13818-1 wants for packets without
// payload.
func (l *Looper) filler(p []byte, pcr uint64) {
	pid := l.c.pcrPID
	p[0], p[1], p[2], p[3] = ts.SyncByte, byte(pid>>8)&0x1F, byte(pid), 0x20|l.lastCC[pid]
	p[4], p[5] = ts.PacketSize-5, 0x10
	for i := 6; i < ts.PacketSize; i++ {
		p[i] = 0xFF
	}
	ts.SetPCR(p, pcr)
}

// maxLate is how far behind schedule Send may fall and still catch up by
// sending at once; further behind (a stall), it moves its schedule instead
// of bursting the backlog.
const maxLate = 50 * time.Millisecond

// Send writes the looper's packets to w, PacketsPerDatagram to a write,
// each write when its first packet is due. It returns nil at the end of
// the stream or when ctx is done. A refused datagram (unicast with no
// receiver yet) is not an error: the feed goes on.
func Send(ctx context.Context, w io.Writer, l *Looper) error {
	buf := make([]byte, DatagramSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		start  time.Time // when the first datagram went out (monotonic)
		origin int64     // its due time in 27 MHz ticks
		slip   time.Duration
	)
	for ctx.Err() == nil {
		n := 0
		var due int64
		for n < PacketsPerDatagram {
			d, ok := l.Next(buf[n*ts.PacketSize : (n+1)*ts.PacketSize])
			if !ok {
				break
			}
			if n == 0 {
				due = d
			}
			n++
		}
		if n == 0 {
			return nil
		}
		if start.IsZero() {
			start, origin = time.Now(), due
		}
		at := start.Add(Ticks(due-origin) + slip)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if -wait > maxLate {
			slip += -wait // stalled: resume at the stream's rate from now
		}
		if _, err := w.Write(buf[:n*ts.PacketSize]); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("feed: send: %w", err)
		}
	}
	return nil
}
