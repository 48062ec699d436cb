package feed

import (
	"time"

	"github.com/slabcast/slabcast/ts"
)

// Buffer is a clip's looping passes back to back in memory, for senders
// that flood: Passes copies, so that the buffer holds a whole number of
// datagrams, pass k shifted by k pass lengths. When the sender has sent
// the whole buffer it calls Advance, which moves every packet forward by
// Passes pass lengths in place, so that the stream a receiver sees is
// continuous for ever: no continuity counter error, no timestamp going
// back, a keyframe every GOP, as from a live encoder.
type Buffer struct {
	c      *Clip
	buf    []byte // the passes, rewritten in place
	passes int
	marks  []int32 // packets of buf carrying a PCR or a timestamped PES header
}

// NewBuffer lays out c's passes: one when c is a whole number of
// datagrams, else PacketsPerDatagram.
func NewBuffer(c *Clip) *Buffer {
	b := &Buffer{c: c, passes: PacketsPerDatagram}
	if c.n%PacketsPerDatagram == 0 {
		b.passes = 1
	}
	b.buf = make([]byte, 0, b.passes*len(c.data))
	for k := range b.passes {
		off := len(b.buf)
		b.buf = append(b.buf, c.data...)
		for i := range c.n {
			c.shift(b.packet(off/ts.PacketSize+i), uint64(k), true)
		}
	}
	for i := range len(b.buf) / ts.PacketSize {
		p := b.packet(i)
		if _, ok := ts.PCR(p); ok || c.pes[ts.PID(p)] && ts.PUSI(p) {
			b.marks = append(b.marks, int32(i))
		}
	}
	return b
}

func (b *Buffer) packet(i int) []byte { return b.buf[i*ts.PacketSize : (i+1)*ts.PacketSize] }

// Clip is the clip the buffer loops.
func (b *Buffer) Clip() *Clip { return b.c }

// Passes is the number of copies of the clip in the buffer.
func (b *Buffer) Passes() int { return b.passes }

// Duration is the media time of the whole buffer: Passes pass lengths.
func (b *Buffer) Duration() time.Duration { return Ticks(int64(b.passes) * b.c.loopTicks) }

// Datagrams is the number of datagrams in the buffer.
func (b *Buffer) Datagrams() int { return len(b.buf) / DatagramSize }

// Datagram returns datagram i (0 <= i < Datagrams()), valid until the next
// Advance.
func (b *Buffer) Datagram(i int) []byte {
	return b.buf[i*DatagramSize : (i+1)*DatagramSize : (i+1)*DatagramSize]
}

// Due is when datagram i is due on the stream's clock (its first packet's
// time in the looping schedule), from datagram 0; within one round of the
// buffer, before it is advanced.
func (b *Buffer) Due(i int) time.Duration {
	pkt := i * PacketsPerDatagram
	k, p := pkt/b.c.n, pkt%b.c.n
	return Ticks(int64(k)*b.c.loopTicks + b.c.loopAt[p] - b.c.loopAt[0])
}

// Advance moves every packet of the buffer forward by Passes pass lengths,
// in place, so that sending the buffer again continues the stream. It does
// not allocate.
func (b *Buffer) Advance() {
	k := uint64(b.passes)
	for i := range len(b.buf) / ts.PacketSize {
		p := b.packet(i)
		if pid := ts.PID(p); pid != ts.NullPID {
			ts.SetCC(p, ts.CC(p)+uint8(k%16)*b.c.ccDelta[pid])
		}
	}
	for _, i := range b.marks {
		b.c.shift(b.packet(int(i)), k, false)
	}
}
