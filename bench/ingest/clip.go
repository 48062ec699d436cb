package ingest

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// DatagramPackets is the number of TS packets per datagram, as IPTV
// encoders send them: 7 × 188 = 1316 bytes of UDP payload.
const DatagramPackets = 7

// DatagramSize is the UDP payload of one datagram in bytes.
const DatagramSize = DatagramPackets * ts.PacketSize

// Clip is an MPEG-TS file made ready to be sent in a loop without a seam:
// Passes copies of the file back to back, so that the copy holds a whole
// number of 7-packet datagrams, each copy's PCR, PTS and DTS shifted by one
// pass length and its continuity counters carried on per PID. When the
// sender has sent the whole buffer it calls Advance, which moves every
// packet forward by Passes pass lengths in place, so the stream a receiver
// sees is continuous for ever: no Continuity_count_error, no timestamp going
// back, a keyframe every GOP and a segment cut every segment_duration, as
// from a live encoder.
//
// A Clip is used by one goroutine at a time. Datagram slices stay valid
// (and their bytes unchanged) until the next Advance.
type Clip struct {
	buf     []byte // Passes copies of the file, rewritten in place
	perPass int    // packets in one copy
	passes  int
	ticks   uint64               // 27 MHz ticks per pass (a multiple of 300)
	ccStep  [ts.MaxPID + 1]uint8 // continuity counter increase per pass, per PID
	pesPID  [ts.MaxPID + 1]bool  // PIDs whose PES headers carry timestamps
	marks   []int32              // packets of buf carrying a PCR or a timestamped PES header
	rounds  uint64               // Advance calls so far
}

// LoadClip reads a TS file and prepares it with NewClip.
func LoadClip(path string) (*Clip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ingest: clip: %w", err)
	}
	c, err := NewClip(data)
	if err != nil {
		return nil, fmt.Errorf("ingest: clip %s: %w", path, err)
	}
	return c, nil
}

// NewClip prepares data, a whole number of 188-byte TS packets with PCRs
// and PES timestamps, for seamless looping. data is copied.
func NewClip(data []byte) (*Clip, error) {
	if len(data) == 0 || len(data)%ts.PacketSize != 0 {
		return nil, fmt.Errorf("ingest: %d bytes are not a whole number of TS packets", len(data))
	}
	n := len(data) / ts.PacketSize
	for i := range n {
		if data[i*ts.PacketSize] != ts.SyncByte {
			return nil, fmt.Errorf("ingest: packet %d has no sync byte", i)
		}
	}
	c := &Clip{perPass: n, passes: DatagramPackets}
	if n%DatagramPackets == 0 {
		c.passes = 1
	}
	if err := c.measure(data); err != nil {
		return nil, err
	}
	c.buf = make([]byte, 0, c.passes*len(data))
	for k := range c.passes {
		off := len(c.buf)
		c.buf = append(c.buf, data...)
		for i := range n {
			c.shift(c.buf[off+i*ts.PacketSize:off+(i+1)*ts.PacketSize], uint64(k), true)
		}
	}
	for i := range c.packets() {
		p := c.packet(i)
		if _, ok := ts.PCR(p); ok || c.pesPID[ts.PID(p)] && ts.PUSI(p) {
			c.marks = append(c.marks, int32(i))
		}
	}
	return c, nil
}

// measure finds each PID's continuity step per pass, the PIDs with PES
// timestamps and the pass length: long enough that no PID's timestamps go
// back at the seam (its timestamp range plus its commonest frame step).
func (c *Clip) measure(data []byte) error {
	var count [ts.MaxPID + 1]int
	type span struct {
		seen, haveLast bool
		first, last    uint64
		min, max       int64 // relative to first
		steps          map[int64]int
	}
	spans := map[uint16]*span{}
	pcrs := 0
	var pes ts.PESHeader
	for i := range len(data) / ts.PacketSize {
		p := data[i*ts.PacketSize : (i+1)*ts.PacketSize]
		pid := ts.PID(p)
		if pid == ts.NullPID {
			continue
		}
		if ts.HasPayload(p) {
			count[pid]++
		}
		if _, ok := ts.PCR(p); ok {
			pcrs++
		}
		if !ts.PUSI(p) || ts.ParsePESHeader(ts.Payload(p), &pes) != nil || !pes.HasPTS {
			continue
		}
		c.pesPID[pid] = true
		for _, t := range []uint64{pes.PTS, pes.DTS} {
			if t == pes.DTS && !pes.HasDTS {
				continue
			}
			s := spans[pid]
			if s == nil {
				s = &span{first: t, steps: map[int64]int{}}
				spans[pid] = s
			}
			r := ts.PTSDiff(t, s.first)
			if s.seen {
				s.min, s.max = min(s.min, r), max(s.max, r)
			}
			s.seen = true
		}
		t := pes.PTS
		if pes.HasDTS {
			t = pes.DTS
		}
		s := spans[pid]
		if d := ts.PTSDiff(t, s.last); s.haveLast && d > 0 {
			s.steps[d]++
		}
		s.last, s.haveLast = t, true
	}
	if pcrs < 2 || len(spans) == 0 {
		return errors.New("ingest: clip needs PCRs and timestamped PES to loop seamlessly")
	}
	var loop90k int64
	for _, s := range spans {
		step, best := int64(0), 0
		for d, k := range s.steps {
			if k > best || k == best && d < step {
				step, best = d, k
			}
		}
		loop90k = max(loop90k, s.max-s.min+step)
	}
	c.ticks = uint64(loop90k) * 300
	for pid, k := range count {
		c.ccStep[pid] = uint8(k & 0x0F)
	}
	return nil
}

// shift moves packet p forward by k passes. all also rewrites packets that
// carry no timestamp (their continuity counter).
func (c *Clip) shift(p []byte, k uint64, all bool) {
	pid := ts.PID(p)
	if pid == ts.NullPID || k == 0 {
		return
	}
	if all {
		ts.SetCC(p, ts.CC(p)+uint8(k)*c.ccStep[pid])
	}
	if pcr, ok := ts.PCR(p); ok {
		ts.SetPCR(p, pcr+k*c.ticks)
	}
	if c.pesPID[pid] && ts.PUSI(p) {
		ts.ShiftPESTimestamps(ts.Payload(p), k*c.ticks/300%ts.PTSWrap)
	}
}

func (c *Clip) packets() int { return len(c.buf) / ts.PacketSize }

func (c *Clip) packet(i int) []byte { return c.buf[i*ts.PacketSize : (i+1)*ts.PacketSize] }

// Datagrams is the number of datagrams in the buffer.
func (c *Clip) Datagrams() int { return len(c.buf) / DatagramSize }

// Datagram returns datagram i (0 <= i < Datagrams()), valid until the next
// Advance.
func (c *Clip) Datagram(i int) []byte {
	return c.buf[i*DatagramSize : (i+1)*DatagramSize : (i+1)*DatagramSize]
}

// Advance moves every packet of the buffer forward by Passes pass lengths,
// in place, so that sending the buffer again continues the stream. It does
// not allocate.
func (c *Clip) Advance() {
	k := uint64(c.passes)
	step := uint8(k)
	for i := range c.packets() {
		p := c.packet(i)
		if pid := ts.PID(p); pid != ts.NullPID {
			ts.SetCC(p, ts.CC(p)+step*c.ccStep[pid])
		}
	}
	for _, i := range c.marks {
		c.shift(c.packet(int(i)), k, false)
	}
	c.rounds++
}

// Passes is the number of copies of the file in the buffer.
func (c *Clip) Passes() int { return c.passes }

// PassDuration is the media time of one copy of the file.
func (c *Clip) PassDuration() time.Duration {
	return time.Duration(c.ticks) * time.Second / 27_000_000
}

// Bitrate is the clip's media bitrate in bits per second: what one pass
// carries over its media time.
func (c *Clip) Bitrate() float64 {
	return float64(c.perPass*ts.PacketSize*8) / c.PassDuration().Seconds()
}
