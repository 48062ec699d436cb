package main

// slabcast feed: a PCR-paced MPEG-TS sender, like tsplay or multicat.
//
// The file is read whole. Each packet gets a due time on the stream's clock:
// PCR packets of the PCR PID are due at their PCR, packets between two PCRs
// by linear interpolation, packets before the first or after the last PCR
// at the neighbouring rate. Packets go out seven to a datagram, each datagram
// when its first packet is due.
//
// With --loop the clip repeats and the stream stays continuous at the loop
// point: pass k has loopTicks*k added to every PCR, PTS and DTS, the
// continuity counters carry on per PID, and the gap between the last PCR of
// a pass and the first of the next is bridged at the clip's usual PCR
// interval with PCR-only packets. loopTicks is long enough that no
// timestamp of any audio or video stream goes back and the data rate over
// the loop point stays within the clip's own; for a clip whose longest
// stream is its video (see testdata/make-clips.sh) the video continues frame
// by frame.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/ts"
)

const feedUsage = `usage: slabcast feed FILE.ts udp://HOST:PORT [--loop] [--iface NAME] [--ttl N]

Sends an MPEG-TS file as UDP, 7 packets (1316 bytes) a datagram, paced by
the PCR the way a live encoder would send it. HOST may be a unicast or a
multicast address; multicast goes out with loopback on, so a receiver on this
host gets it too. Stops at the end of the file, or on SIGINT/SIGTERM.

Options:
`

const (
	feedPacketsPerDatagram = 7
	pcrHz                  = 27_000_000
	// feedMaxLate is how far behind schedule the sender may fall and still
	// catch up by sending at once; further behind (a stall), it moves its
	// schedule instead of bursting the backlog.
	feedMaxLate = 50 * time.Millisecond
	// feedMaxPCRStep is the largest PCR step taken as continuous; larger
	// steps, and steps backwards, are discontinuities in the file.
	feedMaxPCRStep = pcrHz
)

// feedOptions is the parsed command line.
type feedOptions struct {
	file, dest string
	loop       bool
	iface      string
	ttl        int
	ttlSet     bool
}

// parseFeedArgs parses the command line; flags may come before, between or
// after the two positional arguments. -h prints the usage to out and
// returns flag.ErrHelp.
func parseFeedArgs(args []string, out io.Writer) (feedOptions, error) {
	var o feedOptions
	fs := flag.NewFlagSet("feed", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.loop, "loop", false, "replay the file forever, seamlessly (timestamps and continuity counters carry on)")
	fs.StringVar(&o.iface, "iface", "", "send multicast out of this interface (default: the route's)")
	fs.IntVar(&o.ttl, "ttl", 1, "multicast TTL (and unicast TTL when given)")
	fs.Usage = func() {
		fmt.Fprint(out, feedUsage)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ttl" {
			o.ttlSet = true
		}
	})
	if len(pos) != 2 {
		fs.Usage()
		return o, fmt.Errorf("feed: want FILE.ts and udp://HOST:PORT, got %d arguments", len(pos))
	}
	if o.ttl < 0 || o.ttl > 255 {
		return o, fmt.Errorf("feed: --ttl %d: want 0..255", o.ttl)
	}
	o.file, o.dest = pos[0], pos[1]
	return o, nil
}

// runFeed is `slabcast feed`.
func runFeed(args []string) error {
	o, err := parseFeedArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(o.file)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	clip, err := newFeedClip(data)
	if err != nil {
		return fmt.Errorf("feed: %s: %w", o.file, err)
	}
	conn, err := dialFeed(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sendPaced(ctx, conn, newFeedLooper(clip, o.loop))
}

// parseFeedDest turns udp://HOST:PORT (also udp://@HOST:PORT) into an
// address.
func parseFeedDest(dest string) (*net.UDPAddr, error) {
	u, err := url.Parse(dest)
	if err != nil {
		return nil, fmt.Errorf("feed: destination %q: %w", dest, err)
	}
	if u.Scheme != "udp" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("feed: destination %q: want udp://HOST:PORT", dest)
	}
	host := u.Host // udp://@239.0.0.1:1234 (VLC style) parses as an empty user
	if u.User != nil && u.User.String() != "" {
		return nil, fmt.Errorf("feed: destination %q: want udp://HOST:PORT", dest)
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return nil, fmt.Errorf("feed: destination %q: %w", dest, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("feed: destination %q: bad port %q", dest, port)
	}
	if h == "" {
		return nil, fmt.Errorf("feed: destination %q: no host", dest)
	}
	addr, err := net.ResolveUDPAddr("udp", host)
	if err != nil {
		return nil, fmt.Errorf("feed: destination %q: %w", dest, err)
	}
	return addr, nil
}

// dialFeed opens the sending socket. Multicast options are set before
// connect, so the route the kernel caches already uses them.
func dialFeed(o feedOptions) (*net.UDPConn, error) {
	addr, err := parseFeedDest(o.dest)
	if err != nil {
		return nil, err
	}
	mcast := addr.IP.IsMulticast()
	ifindex := 0
	if o.iface != "" {
		if !mcast {
			return nil, fmt.Errorf("feed: --iface applies to multicast destinations only, %s is unicast", addr.IP)
		}
		ifi, err := net.InterfaceByName(o.iface)
		if err != nil {
			return nil, fmt.Errorf("feed: --iface %s: %w", o.iface, err)
		}
		ifindex = ifi.Index
	}
	v4 := addr.IP.To4() != nil
	setOpts := func(fd int) error {
		switch {
		case mcast && v4:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, o.ttl); err != nil {
				return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1); err != nil {
				return fmt.Errorf("IP_MULTICAST_LOOP: %w", err)
			}
			if ifindex != 0 {
				if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}); err != nil {
					return fmt.Errorf("IP_MULTICAST_IF: %w", err)
				}
			}
		case mcast:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, o.ttl); err != nil {
				return fmt.Errorf("IPV6_MULTICAST_HOPS: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 1); err != nil {
				return fmt.Errorf("IPV6_MULTICAST_LOOP: %w", err)
			}
			if ifindex != 0 {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex); err != nil {
					return fmt.Errorf("IPV6_MULTICAST_IF: %w", err)
				}
			}
		case o.ttlSet && v4:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, o.ttl); err != nil {
				return fmt.Errorf("IP_TTL: %w", err)
			}
		case o.ttlSet:
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, o.ttl); err != nil {
				return fmt.Errorf("IPV6_UNICAST_HOPS: %w", err)
			}
		}
		return nil
	}
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setOpts(int(fd)) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("udp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("feed: %s: %w", o.dest, err)
	}
	return c.(*net.UDPConn), nil
}

// sendPaced writes the looper's packets to w, seven to a datagram, each
// datagram when its first packet is due. It returns nil at the end of the
// stream or when ctx is done. A refused datagram (unicast with no receiver
// yet) is not an error: the feed goes on.
func sendPaced(ctx context.Context, w io.Writer, lp *feedLooper) error {
	buf := make([]byte, feedPacketsPerDatagram*ts.PacketSize)
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
		for n < feedPacketsPerDatagram {
			d, ok := lp.next(buf[n*ts.PacketSize : (n+1)*ts.PacketSize])
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
		at := start.Add(ticksToDuration(due-origin) + slip)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if -wait > feedMaxLate {
			slip += -wait // stalled: resume at the stream's rate from now
		}
		if _, err := w.Write(buf[:n*ts.PacketSize]); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("feed: send: %w", err)
		}
	}
	return nil
}

func ticksToDuration(t int64) time.Duration {
	return time.Duration(t/pcrHz)*time.Second + time.Duration(t%pcrHz*1000/27)
}

// feedClip is a TS file prepared for sending: its packets, their due times
// and, for looping, what to shift per pass.
type feedClip struct {
	data   []byte
	n      int    // packets
	pcrPID uint16 // the PID whose PCR paces the stream
	// at holds each packet's due time in 27 MHz ticks, the first PCR packet
	// at 0 (earlier packets negative). Used without --loop.
	at []int64
	// sched is one looping pass: clip packets and PCR-only fillers in send
	// order with due times relative to the pass. Entries with lead set
	// belong to the gap before the pass's first PCR and are skipped in pass 0.
	sched []feedEntry
	// loopTicks is the length of one pass: 27 MHz ticks added to the PCRs
	// (and loopTicks/300 to PTS and DTS) per pass; a multiple of 300.
	loopTicks int64
	firstPCR  uint64     // the clip's first PCR value on pcrPID
	ccDelta   [8192]int8 // per PID, continuity counter increase per pass
	pes       [8192]bool // PIDs whose PES headers carry timestamps to shift
}

// feedEntry is one packet of a looping pass.
type feedEntry struct {
	idx  int32 // packet index in the clip; -1 for a PCR-only filler
	lead bool  // filler before the pass's first packet: not sent in pass 0
	at   int64 // due time relative to the pass, 27 MHz ticks
}

// newFeedClip validates data and computes the schedule.
func newFeedClip(data []byte) (*feedClip, error) {
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
	c := &feedClip{data: data, n: len(data) / ts.PacketSize}
	for i := range c.n {
		if data[i*ts.PacketSize] != ts.SyncByte {
			return nil, fmt.Errorf("packet %d (offset %d) has no sync byte", i, start+i*ts.PacketSize)
		}
	}
	pmt := c.findPMT()
	c.pcrPID = c.choosePCRPID(pmt)
	if err := c.computeTimes(); err != nil {
		return nil, err
	}
	c.computeLoop(pmt)
	return c, nil
}

func (c *feedClip) packet(i int) []byte {
	return c.data[i*ts.PacketSize : (i+1)*ts.PacketSize]
}

// findPMT returns the first PMT of the first program in the first PAT, if
// the clip has them.
func (c *feedClip) findPMT() *ts.PMT {
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
func (c *feedClip) choosePCRPID(pmt *ts.PMT) uint16 {
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
func (c *feedClip) computeTimes() error {
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
		if d := samples[k].t; d > 0 && d <= feedMaxPCRStep {
			rate = float64(d) / float64(samples[k].idx-samples[k-1].idx)
			break
		}
	}
	if rate == 0 {
		return errors.New("no two consecutive PCRs less than a second apart; cannot pace")
	}
	for k := 1; k < len(samples); k++ {
		d, span := samples[k].t, samples[k].idx-samples[k-1].idx
		if d > 0 && d <= feedMaxPCRStep {
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
func (c *feedClip) pcrStats() (median int64, minPerPacket float64) {
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
func (c *feedClip) computeLoop(pmt *ts.PMT) {
	media := make(map[uint16]bool) // audio and video PIDs per the PMT
	video := make(map[uint16]bool)
	if pmt != nil {
		for _, s := range pmt.Streams {
			media[s.PID] = s.Codec.IsVideo() || s.Codec.IsAudio()
			video[s.PID] = s.Codec.IsVideo()
		}
	}
	stats := make(map[uint16]*pesStats)
	var firstCC, lastCC [8192]int16
	for i := range firstCC {
		firstCC[i], lastCC[i] = -1, -1
	}
	var firstHasPayload [8192]bool
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
		c.ccDelta[pid] = int8(d & 0x0F)
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
	var wrap []feedEntry // times relative to the last PCR
	fi, ri := 1, 1
	for fi <= fillers || ri <= real {
		ft := int64(fi) * gap / int64(fillers+1)
		rt := int64(ri) * gap / int64(real+1)
		if fi <= fillers && (ri > real || ft <= rt) {
			wrap = append(wrap, feedEntry{idx: -1, at: ft})
			fi++
			continue
		}
		idx := lastIdx + ri
		if ri > tail {
			idx = ri - tail - 1
		}
		wrap = append(wrap, feedEntry{idx: int32(idx), at: rt})
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
	var lead []feedEntry
	for _, e := range wrap[split:] {
		e.at += lastT - loop // relative to the next pass
		if e.idx < 0 {
			e.lead = true
		}
		lead = append(lead, e)
	}
	c.sched = append(c.sched, lead...)
	for i := firstIdx; i <= lastIdx; i++ {
		c.sched = append(c.sched, feedEntry{idx: int32(i), at: c.at[i]})
	}
	for _, e := range wrap[:split] {
		e.at += lastT
		c.sched = append(c.sched, e)
	}
}

// feedLooper yields the clip's packets, rewritten for their pass when
// looping, with their due times on one continuous 27 MHz timeline.
type feedLooper struct {
	c      *feedClip
	loop   bool
	pass   int64
	pos    int
	lastCC [8192]uint8 // last CC sent per PID, for PCR-only fillers
}

func newFeedLooper(c *feedClip, loop bool) *feedLooper {
	return &feedLooper{c: c, loop: loop}
}

// next copies the next packet into dst (188 bytes) and returns its due time;
// ok is false at the end of the clip when not looping.
func (l *feedLooper) next(dst []byte) (due int64, ok bool) {
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
		copy(dst, c.packet(int(e.idx)))
		l.rewrite(dst)
		return shift + e.at, true
	}
}

// rewrite moves one clip packet into the current pass.
func (l *feedLooper) rewrite(p []byte) {
	c := l.c
	pid := ts.PID(p)
	if l.pass > 0 && pid != ts.NullPID {
		ts.SetCC(p, ts.CC(p)+uint8(int64(c.ccDelta[pid])*(l.pass%16)))
		if pcr, ok := ts.PCR(p); ok {
			ts.SetPCR(p, pcr+uint64(l.pass)*uint64(c.loopTicks))
		}
		if c.pes[pid] && ts.PUSI(p) {
			ts.ShiftPESTimestamps(ts.Payload(p), uint64(l.pass)*uint64(c.loopTicks/300)%ts.PTSWrap)
		}
	}
	l.lastCC[pid] = ts.CC(p)
}

// filler writes an adaptation-only packet carrying pcr on the PCR PID. Its
// CC repeats the PID's last one, as 13818-1 wants for packets without
// payload.
func (l *feedLooper) filler(p []byte, pcr uint64) {
	pid := l.c.pcrPID
	p[0], p[1], p[2], p[3] = ts.SyncByte, byte(pid>>8)&0x1F, byte(pid), 0x20|l.lastCC[pid]
	p[4], p[5] = ts.PacketSize-5, 0x10
	for i := 6; i < ts.PacketSize; i++ {
		p[i] = 0xFF
	}
	ts.SetPCR(p, pcr)
}
