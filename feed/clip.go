package feed

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/slabcast/slabcast/ts"
)

const (
	// PacketsPerDatagram is the number of TS packets per datagram, as IPTV
	// encoders send them.
	PacketsPerDatagram = 7
	// DatagramSize is the UDP payload of one datagram: 1316 bytes.
	DatagramSize = PacketsPerDatagram * ts.PacketSize
	// ClockHz is the rate of the PCR clock due times are counted in.
	ClockHz = 27_000_000
	// maxPCRStep is the largest PCR step taken as continuous; larger steps,
	// and steps backwards, are discontinuities in the file.
	maxPCRStep = ClockHz
)

// Ticks converts a span of the 27 MHz clock into a duration.
func Ticks(t int64) time.Duration {
	return time.Duration(t/ClockHz)*time.Second + time.Duration(t%ClockHz*1000/27)
}

// Clip is a TS file prepared for sending: its packets, their due times and,
// for looping, what to shift per pass.
type Clip struct {
	data   []byte
	n      int    // packets
	pcrPID uint16 // the PID whose PCR paces the stream
	pmt    *ts.PMT
	// at holds each packet's due time in 27 MHz ticks, the first PCR packet
	// at 0 (earlier packets negative). Used when not looping.
	at []int64
	// sched is one looping pass: clip packets and PCR-only fillers in send
	// order with due times relative to the pass. Entries with lead set
	// belong to the gap before the pass's first PCR and are skipped in pass 0.
	sched []entry
	// loopAt is each packet's due time in sched.
	loopAt []int64
	// loopTicks is the length of one pass: 27 MHz ticks added to the PCRs
	// (and loopTicks/300 to PTS and DTS) per pass; a multiple of 300.
	loopTicks int64
	firstPCR  uint64               // the clip's first PCR value on pcrPID
	ccDelta   [ts.MaxPID + 1]uint8 // per PID, continuity counter increase per pass
	pes       [ts.MaxPID + 1]bool  // PIDs whose PES headers carry timestamps to shift
}

// entry is one packet of a looping pass.
type entry struct {
	idx  int32 // packet index in the clip; -1 for a PCR-only filler
	lead bool  // filler before the pass's first packet: not sent in pass 0
	at   int64 // due time relative to the pass, 27 MHz ticks
}

// LoadClip reads a TS file and prepares it with NewClip; its errors name
// the file.
func LoadClip(path string) (*Clip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	c, err := NewClip(data)
	if err != nil {
		return nil, fmt.Errorf("feed: %s: %w", path, err)
	}
	return c, nil
}

// NewClip validates data, TS packets from the first sync byte on with at
// least two PCRs, and computes the schedule. The Clip keeps data.
func NewClip(data []byte) (*Clip, error) {
	start := -1
	for i := 0; i < len(data); i++ {
		if data[i] == ts.SyncByte && (i+ts.PacketSize >= len(data) || data[i+ts.PacketSize] == ts.SyncByte) {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, errors.New("no MPEG-TS sync byte found")
	}
	data = data[start:]
	if len(data)%ts.PacketSize != 0 {
		return nil, fmt.Errorf("%d bytes after the first sync byte (offset %d) are not a whole number of 188-byte packets", len(data), start)
	}
	c := &Clip{data: data, n: len(data) / ts.PacketSize}
	for i := range c.n {
		if data[i*ts.PacketSize] != ts.SyncByte {
			return nil, fmt.Errorf("packet %d (offset %d) has no sync byte", i, start+i*ts.PacketSize)
		}
	}
	c.pmt = c.findPMT()
	c.pcrPID = c.choosePCRPID(c.pmt)
	if err := c.computeTimes(); err != nil {
		return nil, err
	}
	c.computeLoop(c.pmt)
	return c, nil
}

// PCRPID is the PID whose PCR paces the clip.
func (c *Clip) PCRPID() uint16 { return c.pcrPID }

// PMT is the first PMT of the clip's first program, nil if it has none.
// The caller must not change it.
func (c *Clip) PMT() *ts.PMT { return c.pmt }

// PassDuration is the media time of one looping pass.
func (c *Clip) PassDuration() time.Duration { return Ticks(c.loopTicks) }

// Bitrate is the clip's media bitrate in bits per second: what one pass
// carries over its media time.
func (c *Clip) Bitrate() float64 {
	return float64(c.n*ts.PacketSize*8) / c.PassDuration().Seconds()
}

func (c *Clip) packet(i int) []byte {
	return c.data[i*ts.PacketSize : (i+1)*ts.PacketSize]
}

// shift moves packet p of the clip forward by k passes: its PCR, its PES
// timestamps and, with cc, its continuity counter.
func (c *Clip) shift(p []byte, k uint64, cc bool) {
	pid := ts.PID(p)
	if k == 0 || pid == ts.NullPID {
		return
	}
	if cc {
		ts.SetCC(p, ts.CC(p)+uint8(k%16)*c.ccDelta[pid])
	}
	if pcr, ok := ts.PCR(p); ok {
		ts.SetPCR(p, pcr+k*uint64(c.loopTicks))
	}
	if c.pes[pid] && ts.PUSI(p) {
		ts.ShiftPESTimestamps(ts.Payload(p), k*uint64(c.loopTicks/300)%ts.PTSWrap)
	}
}

// findPMT returns the first PMT of the first program in the first PAT, if
// the clip has them.
func (c *Clip) findPMT() *ts.PMT {
	var patA, pmtA ts.SectionAssembler
	pmtPID := -1
	for i := range c.n {
		p := c.packet(i)
		pid := ts.PID(p)
		switch {
		case pid == ts.PATPID && pmtPID < 0:
			s, ok := patA.Push(p)
			if !ok {
				continue
			}
			pat, err := ts.ParsePAT(s)
			if err != nil {
				continue
			}
			for _, pg := range pat.Programs {
				if pg.Number != 0 {
					pmtPID = int(pg.PMTPID)
					break
				}
			}
		case pmtPID >= 0 && int(pid) == pmtPID:
			for s, ok := pmtA.Push(p); ok; s, ok = pmtA.Next() {
				if pmt, err := ts.ParsePMT(s); err == nil {
					return &pmt
				}
			}
		}
	}
	return nil
}

// choosePCRPID takes the PMT's PCR PID when it carries PCRs, else the first
// PID that does.
func (c *Clip) choosePCRPID(pmt *ts.PMT) uint16 {
	first := -1
	for i := range c.n {
		p := c.packet(i)
		if _, ok := ts.PCR(p); ok {
			if pmt != nil && ts.PID(p) == pmt.PCRPID {
				return pmt.PCRPID
			}
			if first < 0 {
				first = int(ts.PID(p))
			}
		}
	}
	if first < 0 {
		return ts.NullPID
	}
	return uint16(first)
}

// computeTimes fills c.at from the PCRs of c.pcrPID.
func (c *Clip) computeTimes() error {
	type sample struct {
		idx int
		t   int64
	}
	var samples []sample
	var last uint64
	for i := range c.n {
		p := c.packet(i)
		if ts.PID(p) != c.pcrPID {
			continue
		}
		pcr, ok := ts.PCR(p)
		if !ok {
			continue
		}
		if len(samples) == 0 {
			c.firstPCR = pcr
			samples = append(samples, sample{i, 0})
		} else {
			// Discontinuities are bridged below, once the rates are known.
			samples = append(samples, sample{i, ts.PCRDiff(pcr, last)})
		}
		last = pcr
	}
	if len(samples) < 2 {
		return fmt.Errorf("needs at least two PCRs to pace by, found %d", len(samples))
	}
	// Turn steps into times; a discontinuous step takes the rate of the
	// nearest continuous interval before it (or after it, at the start).
	rate := 0.0 // ticks per packet
	for k := 1; k < len(samples); k++ {
		if d := samples[k].t; d > 0 && d <= maxPCRStep {
			rate = float64(d) / float64(samples[k].idx-samples[k-1].idx)
			break
		}
	}
	if rate == 0 {
		return errors.New("no two consecutive PCRs less than a second apart; cannot pace")
	}
	for k := 1; k < len(samples); k++ {
		d, span := samples[k].t, samples[k].idx-samples[k-1].idx
		if d > 0 && d <= maxPCRStep {
			rate = float64(d) / float64(span)
		} else {
			d = max(1, int64(rate*float64(span)))
		}
		samples[k].t = samples[k-1].t + d
	}
	c.at = make([]int64, c.n+1)
	interp := func(a, b sample, i int) int64 {
		return a.t + (b.t-a.t)*int64(i-a.idx)/int64(b.idx-a.idx)
	}
	k := 0
	for i := 0; i <= c.n; i++ {
		for k+2 < len(samples) && i > samples[k+1].idx {
			k++
		}
		c.at[i] = interp(samples[k], samples[k+1], i) // extrapolates outside
	}
	return nil
}

// pcrStats returns the median PCR step and the smallest ticks-per-packet
// seen between consecutive continuous PCRs.
func (c *Clip) pcrStats() (median int64, minPerPacket float64) {
	var steps []int64
	minPerPacket = -1
	prev := -1
	for i := range c.n {
		p := c.packet(i)
		if _, ok := ts.PCR(p); !ok || ts.PID(p) != c.pcrPID {
			continue
		}
		if prev >= 0 {
			d := c.at[i] - c.at[prev]
			steps = append(steps, d)
			if r := float64(d) / float64(i-prev); minPerPacket < 0 || r < minPerPacket {
				minPerPacket = r
			}
		}
		prev = i
	}
	slices.Sort(steps)
	return steps[len(steps)/2], minPerPacket
}

// pesStats is what the loop length needs to know about one PES PID.
type pesStats struct {
	video            bool
	n                int
	firstPTS         uint64
	minPTS, maxPTS   int64 // relative to firstPTS, unwrapped
	minDTS, maxDTS   int64
	lastPTS, lastDTS int64
	steps            map[int64]int // DTS steps between consecutive PES (video)
	bytes, lastBytes int           // ES bytes in all PES, in the last PES
}

// computeLoop works out the pass length, the continuity counter deltas and
// the looping schedule.
func (c *Clip) computeLoop(pmt *ts.PMT) {
	media := make(map[uint16]bool) // audio and video PIDs per the PMT
	video := make(map[uint16]bool)
	if pmt != nil {
		for _, s := range pmt.Streams {
			media[s.PID] = s.Codec.IsVideo() || s.Codec.IsAudio()
			video[s.PID] = s.Codec.IsVideo()
		}
	}
	stats := make(map[uint16]*pesStats)
	var firstCC, lastCC [ts.MaxPID + 1]int16
	for i := range firstCC {
		firstCC[i], lastCC[i] = -1, -1
	}
	var firstHasPayload [ts.MaxPID + 1]bool
	for i := range c.n {
		p := c.packet(i)
		pid := ts.PID(p)
		if pid == ts.NullPID {
			continue
		}
		if firstCC[pid] < 0 {
			firstCC[pid] = int16(ts.CC(p))
			firstHasPayload[pid] = ts.HasPayload(p)
		}
		if ts.HasPayload(p) {
			lastCC[pid] = int16(ts.CC(p))
		}
		pl := ts.Payload(p)
		if len(pl) == 0 {
			continue
		}
		st := stats[pid]
		if ts.PUSI(p) {
			var h ts.PESHeader
			if ts.ParsePESHeader(pl, &h) != nil || !h.HasPTS {
				continue // PSI, or PES without timestamps
			}
			c.pes[pid] = true
			isMedia, known := media[pid]
			if !known {
				isMedia = h.StreamID >= 0xC0 && h.StreamID <= 0xEF
				video[pid] = h.StreamID >= 0xE0
			}
			if !isMedia {
				continue
			}
			if st == nil {
				st = &pesStats{video: video[pid], firstPTS: h.PTS, steps: make(map[int64]int)}
				stats[pid] = st
			}
			pts := ts.PTSDiff(h.PTS, st.firstPTS)
			dts := pts
			if h.HasDTS {
				dts = ts.PTSDiff(h.DTS, st.firstPTS)
			}
			if st.n > 0 {
				st.steps[dts-st.lastDTS]++
			} else {
				st.minPTS, st.maxPTS, st.minDTS, st.maxDTS = pts, pts, dts, dts
			}
			st.minPTS, st.maxPTS = min(st.minPTS, pts), max(st.maxPTS, pts)
			st.minDTS, st.maxDTS = min(st.minDTS, dts), max(st.maxDTS, dts)
			st.lastPTS, st.lastDTS = pts, dts
			st.n++
			st.lastBytes = 0
			pl = pl[h.DataOffset:]
		}
		if st != nil {
			st.bytes += len(pl)
			st.lastBytes += len(pl)
		}
	}
	for pid := range c.ccDelta {
		if firstCC[pid] < 0 || lastCC[pid] < 0 {
			continue
		}
		d := lastCC[pid] - firstCC[pid]
		if firstHasPayload[pid] {
			d++
		}
		c.ccDelta[pid] = uint8(d & 0x0F)
	}

	// The pass must be long enough for every media stream to end before
	// the next pass starts it again.
	var loop90k int64
	for _, st := range stats {
		if st.n < 2 {
			continue
		}
		var l int64
		if st.video {
			// One PES per frame: the commonest DTS step is the frame time.
			step, best := int64(0), 0
			for s, k := range st.steps {
				if s > 0 && (k > best || k == best && s < step) {
					step, best = s, k
				}
			}
			l = max(st.maxPTS-st.minPTS, st.maxDTS-st.minDTS) + step
		} else {
			// Audio PES hold several frames: the last one lasts about as
			// long as its bytes at the stream's average rate.
			est := int64(0)
			if other := st.bytes - st.lastBytes; other > 0 {
				est = st.lastPTS * int64(st.lastBytes) / int64(other)
			}
			l = max(st.maxPTS-st.minPTS, st.lastPTS-st.minPTS+est, st.maxDTS-st.minDTS+1)
		}
		loop90k = max(loop90k, l)
	}

	// And long enough that the packets after the last PCR and before the
	// first go no faster than the clip's fastest stretch.
	median, minPerPacket := c.pcrStats()
	firstIdx, lastIdx := -1, -1
	for i := range c.n {
		p := c.packet(i)
		if _, ok := ts.PCR(p); ok && ts.PID(p) == c.pcrPID {
			if firstIdx < 0 {
				firstIdx = i
			}
			lastIdx = i
		}
	}
	lastT := c.at[lastIdx]
	wrapPackets := (c.n - 1 - lastIdx) + firstIdx + 1
	loop := max(lastT+int64(float64(wrapPackets)*minPerPacket)+1, loop90k*300)
	loop = (loop + 299) / 300 * 300
	c.loopTicks = loop

	// The looping schedule: the clip's packets from the first PCR to the
	// last keep their times; the wrap segment (tail of this pass, head of
	// the next) is spread evenly over the gap, with PCR-only fillers so
	// that PCRs keep coming at the clip's median interval.
	gap := loop - lastT // from the last PCR to the next pass's first
	fillers := int((gap+median-1)/median) - 1
	tail := c.n - 1 - lastIdx
	head := firstIdx
	real := tail + head
	var wrap []entry // times relative to the last PCR
	fi, ri := 1, 1
	for fi <= fillers || ri <= real {
		ft := int64(fi) * gap / int64(fillers+1)
		rt := int64(ri) * gap / int64(real+1)
		if fi <= fillers && (ri > real || ft <= rt) {
			wrap = append(wrap, entry{idx: -1, at: ft})
			fi++
			continue
		}
		idx := lastIdx + ri
		if ri > tail {
			idx = ri - tail - 1
		}
		wrap = append(wrap, entry{idx: int32(idx), at: rt})
		ri++
	}
	// Split the wrap segment: entries up to the last tail packet belong to
	// this pass; the rest (fillers and head packets) lead the next pass.
	split := 0
	for k, e := range wrap {
		if e.idx > int32(lastIdx) {
			split = k + 1
		}
	}
	var lead []entry
	for _, e := range wrap[split:] {
		e.at += lastT - loop // relative to the next pass
		if e.idx < 0 {
			e.lead = true
		}
		lead = append(lead, e)
	}
	c.sched = append(c.sched, lead...)
	for i := firstIdx; i <= lastIdx; i++ {
		c.sched = append(c.sched, entry{idx: int32(i), at: c.at[i]})
	}
	for _, e := range wrap[:split] {
		e.at += lastT
		c.sched = append(c.sched, e)
	}
	c.loopAt = make([]int64, c.n)
	for _, e := range c.sched {
		if e.idx >= 0 {
			c.loopAt[e.idx] = e.at
		}
	}
}
