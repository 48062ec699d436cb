package ts

import (
	"math/rand/v2"
	"testing"
	"time"
)

// feed is a clip prepared for Health: copies of its packets with arrival
// times, paced by the PCR like slabcast feed and IPTV senders.
type feed struct {
	pk [][]byte
	at []int64
}

// feedBase is the arrival time of a feed's first PCR.
const feedBase = int64(1_700_000_000) * int64(time.Second)

const ms = int64(time.Millisecond)

// clipProgram returns the PMT PID and PMT of a clip's first program.
func clipProgram(t testing.TB, data []byte) (uint16, PMT) {
	t.Helper()
	pat, err := ParsePAT(firstSection(t, data, PATPID))
	if err != nil {
		t.Fatal(err)
	}
	for _, pg := range pat.Programs {
		if pg.Number != 0 {
			pmt, err := ParsePMT(firstSection(t, data, pg.PMTPID))
			if err != nil {
				t.Fatal(err)
			}
			return pg.PMTPID, pmt
		}
	}
	t.Fatal("no program in the PAT")
	return 0, PMT{}
}

// pacedClip reads a clip and gives each packet the time it is due: PCR
// packets at their PCR, the others by linear interpolation between the
// neighbouring PCRs (extrapolated before the first and after the last).
func pacedClip(t testing.TB, name string) *feed {
	t.Helper()
	data := readClip(t, name)
	_, pmt := clipProgram(t, data)
	type sample struct {
		idx   int
		ticks int64
	}
	var samples []sample
	var last uint64
	f := &feed{}
	packets(data, func(p []byte) {
		i := len(f.pk)
		f.pk = append(f.pk, append([]byte(nil), p...))
		if PID(p) != pmt.PCRPID {
			return
		}
		if v, ok := PCR(p); ok {
			if len(samples) == 0 {
				samples = append(samples, sample{i, 0})
			} else {
				samples = append(samples, sample{i, samples[len(samples)-1].ticks + PCRDiff(v, last)})
			}
			last = v
		}
	})
	if len(samples) < 2 {
		t.Fatalf("%s: %d PCRs", name, len(samples))
	}
	f.at = make([]int64, len(f.pk))
	k := 0
	for i := range f.pk {
		for k+2 < len(samples) && i > samples[k+1].idx {
			k++
		}
		a, b := samples[k], samples[k+1]
		ticks := a.ticks + (b.ticks-a.ticks)*int64(i-a.idx)/int64(b.idx-a.idx)
		f.at[i] = feedBase + ticks*1000/27
	}
	return f
}

// run feeds every packet, with a Tick after every seven (a datagram).
func (f *feed) run(h *Health) {
	for i, p := range f.pk {
		h.Packet(p, f.at[i])
		if i%7 == 6 {
			h.Tick(f.at[i])
		}
	}
	h.Tick(f.at[len(f.at)-1])
}

// received returns the feed as a receiver sees it: seven packets to a
// datagram, sent when its first packet is due, each stamped when a batch is
// read, 0 to maxLate later, in order.
func (f *feed) received(seed uint64, maxLate int64) *feed {
	r := rand.New(rand.NewPCG(seed, 1))
	g := &feed{pk: f.pk, at: make([]int64, len(f.at))}
	var stamp int64
	for i := 0; i < len(f.pk); i += 7 {
		stamp = max(stamp, f.at[i]+r.Int64N(maxLate+1))
		for j := i; j < min(i+7, len(f.pk)); j++ {
			g.at[j] = stamp
		}
	}
	return g
}

// clone returns a deep copy to inject faults into.
func (f *feed) clone() *feed {
	g := &feed{at: append([]int64(nil), f.at...)}
	for _, p := range f.pk {
		g.pk = append(g.pk, append([]byte(nil), p...))
	}
	return g
}

// drop removes the packets for which del is true and returns how many.
func (f *feed) drop(del func(i int, p []byte) bool) int {
	var pk [][]byte
	var at []int64
	for i, p := range f.pk {
		if !del(i, p) {
			pk = append(pk, p)
			at = append(at, f.at[i])
		}
	}
	n := len(f.pk) - len(pk)
	f.pk, f.at = pk, at
	return n
}

// insert puts pk before packet i, arriving with it.
func (f *feed) insert(i int, pk ...[]byte) {
	at := make([]int64, len(pk))
	for j := range at {
		at[j] = f.at[i]
	}
	f.pk = append(f.pk[:i:i], append(pk, f.pk[i:]...)...)
	f.at = append(f.at[:i:i], append(at, f.at[i:]...)...)
}

// rel is the arrival time of packet i relative to the first PCR.
func (f *feed) rel(i int) int64 { return f.at[i] - feedBase }

// find returns the index of the first packet at or after from (an index)
// that matches.
func (f *feed) find(from int, match func(p []byte) bool) int {
	for i := from; i < len(f.pk); i++ {
		if match(f.pk[i]) {
			return i
		}
	}
	panic("BUG: no such packet")
}

// at returns the index of the first packet arriving at or after rel.
func (f *feed) index(rel int64) int {
	for i := range f.at {
		if f.rel(i) >= rel {
			return i
		}
	}
	panic("BUG: feed too short")
}

// missed is what TR 101 290 counts for something last seen at t0 and next
// at t1 that must repeat every period: the periods that fully passed.
func missed(t0, t1, period int64) uint64 {
	if t1 <= t0+period {
		return 0
	}
	return uint64((t1 - t0 - 1) / period)
}

// lastBefore and firstAfter return the arrival of the last packet matching
// before index i and of the first one at or after index j.
func (f *feed) lastBefore(i int, match func(p []byte) bool) int64 {
	for k := i - 1; k >= 0; k-- {
		if match(f.pk[k]) {
			return f.at[k]
		}
	}
	panic("BUG: none before")
}

func (f *feed) firstAfter(j int, match func(p []byte) bool) int64 {
	return f.at[f.find(j, match)]
}

// gaps is the Continuity_count_error of n packets missing in a row: none
// when the counter wraps around to where it was.
func gaps(n int) uint64 {
	if n%16 == 0 {
		return 0
	}
	return 1
}

func onPID(pid uint16) func(p []byte) bool {
	return func(p []byte) bool { return PID(p) == pid }
}

// plain matches packets of pid that start nothing and carry no adaptation
// field: dropping or damaging one affects only continuity.
func plain(pid uint16) func(p []byte) bool {
	return func(p []byte) bool { return PID(p) == pid && !PUSI(p) && p[3]&0x30 == 0x10 }
}

func withPTS(pid uint16) func(p []byte) bool {
	return func(p []byte) bool { return PID(p) == pid && PUSI(p) && hasPTS(p) }
}

// section returns the PSI section starting in packet p (PUSI set).
func section(p []byte) []byte {
	pl := Payload(p)
	s := pl[1+int(pl[0]):]
	return s[:3+int(s[1]&0x0F)<<8|int(s[2])]
}

// pcrIntervalsOver counts consecutive PCRs of the clip's PCR PID more than
// 100 ms apart: a clip property the clean test has to allow for.
func pcrIntervalsOver(f *feed, pcrPID uint16) uint64 {
	var n uint64
	var last uint64
	have := false
	for _, p := range f.pk {
		if v, ok := PCR(p); ok && PID(p) == pcrPID {
			if have && PCRDiff(v, last) > 100*27000 {
				n++
			}
			last, have = v, true
		}
	}
	return n
}

// want is a set of expected non-zero counts; the others must be zero.
type want map[Indicator]uint64

func checkCounts(t *testing.T, h *Health, w want) {
	t.Helper()
	got := h.Counts()
	for i := range NumIndicators {
		if got[i] != w[i] || h.Count(i) != got[i] {
			t.Errorf("%v = %d, want %d", i, got[i], w[i])
		}
	}
}

func TestIndicatorNames(t *testing.T) {
	f := func(i Indicator, name string, prio int) {
		t.Helper()
		if i.String() != name || i.Priority() != prio {
			t.Errorf("indicator %d: %q priority %d, want %q priority %d", i, i.String(), i.Priority(), name, prio)
		}
	}
	f(TSSyncLoss, "TS_sync_loss", 1)
	f(SyncByteError, "Sync_byte_error", 1)
	f(PATError2, "PAT_error_2", 1)
	f(ContinuityCountError, "Continuity_count_error", 1)
	f(PMTError2, "PMT_error_2", 1)
	f(PIDError, "PID_error", 1)
	f(TransportError, "Transport_error", 2)
	f(CRCError, "CRC_error", 2)
	f(PCRRepetitionError, "PCR_repetition_error", 2)
	f(PCRDiscontinuityIndicatorError, "PCR_discontinuity_indicator_error", 2)
	f(PCRAccuracyError, "PCR_accuracy_error", 2)
	f(PTSError, "PTS_error", 2)
	if NumIndicators != 12 || NumIndicators.String() != "unknown" {
		t.Errorf("%d indicators", NumIndicators)
	}
}

// TestHealthCleanClips feeds every committed clip paced by its PCR, exactly
// and as a loaded receiver would see it, and expects no error at all.
func TestHealthCleanClips(t *testing.T) {
	for _, name := range []string{"h264_aac.ts", "hevc_mp2.ts", "mpeg2_mp2.ts", "audio_aac.ts"} {
		t.Run(name, func(t *testing.T) {
			f := pacedClip(t, name)
			_, pmt := clipProgram(t, readClip(t, name))
			// ffmpeg packs audio-only streams into ~240 ms PES packets and
			// can only put a PCR into each: such a clip does break the
			// 100 ms PCR rules, and both counts must say so exactly.
			w := want{}
			if n := pcrIntervalsOver(f, pmt.PCRPID); n > 0 {
				t.Logf("%s: %d PCR intervals over 100 ms in the clip itself", name, n)
				w[PCRRepetitionError], w[PCRDiscontinuityIndicatorError] = n, n
			}
			for _, c := range []struct {
				name string
				f    *feed
			}{
				{"exact", f},
				{"datagrams", f.received(1, 0)},
				{"late receiver", f.received(2, 30*ms)},
			} {
				var h Health
				c.f.run(&h)
				t.Run(c.name, func(t *testing.T) { checkCounts(t, &h, w) })
			}
			var h Health
			f.run(&h)
			if h.Lost() != 0 {
				t.Errorf("Lost = %d", h.Lost())
			}
			stats := h.AppendPIDStats(nil)
			var total uint64
			codecs := map[uint16]Codec{}
			for _, s := range stats {
				total += s.Packets
				codecs[s.PID] = s.Codec
				if s.Lost != 0 {
					t.Errorf("PID 0x%x lost %d", s.PID, s.Lost)
				}
			}
			if total != uint64(len(f.pk)) {
				t.Errorf("PID stats count %d packets, clip has %d", total, len(f.pk))
			}
			for _, s := range pmt.Streams {
				if codecs[s.PID] != s.Codec {
					t.Errorf("PID 0x%x: codec %v, PMT says %v", s.PID, codecs[s.PID], s.Codec)
				}
			}
		})
	}
}

// TestHealthFaults injects known faults into the H.264 clip and checks every
// count.
func TestHealthFaults(t *testing.T) {
	clean := pacedClip(t, "h264_aac.ts")
	const video, audio, pmtPID = 0x100, 0x101, 0x1000
	check := func(name string, inject func(f *feed) (want, uint64)) {
		t.Run(name, func(t *testing.T) {
			f := clean.clone()
			w, lost := inject(f)
			var h Health
			f.run(&h)
			checkCounts(t, &h, w)
			if h.Lost() != lost {
				t.Errorf("Lost = %d, want %d", h.Lost(), lost)
			}
			var perPID uint64
			for _, s := range h.AppendPIDStats(nil) {
				perPID += s.Lost
			}
			if perPID != lost {
				t.Errorf("PID stats lose %d packets, want %d", perPID, lost)
			}
		})
	}

	check("bad sync inserted", func(f *feed) (want, uint64) {
		bad := func(n int) [][]byte {
			var pk [][]byte
			for range n {
				pk = append(pk, packet(0xFF))
			}
			return pk
		}
		// Runs of 1, 2, 3+3 (two good packets between: sync is not
		// regained), 6 and 1: sync is lost three times.
		f.insert(4000, bad(1)...)
		f.insert(3000, bad(6)...)
		f.insert(2002, bad(3)...)
		f.insert(2000, bad(3)...)
		f.insert(1000, bad(2)...)
		f.insert(500, bad(1)...)
		return want{SyncByteError: 16, TSSyncLoss: 3}, 0
	})
	check("bad sync replaced", func(f *feed) (want, uint64) {
		// The packet is lost to its PID: one continuity gap.
		f.pk[f.find(1500, plain(video))][0] = 0x48
		return want{SyncByteError: 1, ContinuityCountError: 1}, 1
	})
	check("dropped packets", func(f *feed) (want, uint64) {
		// Audio packets 100, 300-301, 500 and 600-602: four gaps, seven
		// packets.
		n := 0
		drop := map[int]bool{100: true, 300: true, 301: true, 500: true, 600: true, 601: true, 602: true}
		f.drop(func(_ int, p []byte) bool {
			if PID(p) != audio {
				return false
			}
			n++
			return drop[n-1]
		})
		return want{ContinuityCountError: 4}, 7
	})
	check("TEI", func(f *feed) (want, uint64) {
		for _, i := range []int{1000, 2000, 3000, 4000, 5000} {
			f.pk[f.find(i, plain(video))][1] |= 0x80
		}
		// Each damaged packet is also missing from its PID.
		return want{TransportError: 5, ContinuityCountError: 5}, 5
	})
	check("PAT CRC", func(f *feed) (want, uint64) {
		section(f.pk[f.find(2000, onPID(PATPID))])[8] ^= 0x01
		return want{CRCError: 1}, 0
	})
	check("PMT CRC", func(f *feed) (want, uint64) {
		s := section(f.pk[f.find(2000, onPID(pmtPID))])
		s[len(s)-1] ^= 0x80
		return want{CRCError: 1}, 0
	})
	check("SDT CRC", func(f *feed) (want, uint64) {
		s := section(f.pk[f.find(2000, onPID(0x11))])
		s[len(s)-2] ^= 0x10
		return want{CRCError: 1}, 0
	})
	check("PAT gap", func(f *feed) (want, uint64) {
		from, to := f.index(3000*ms), f.index(3800*ms)
		t0, t1 := f.lastBefore(from, onPID(PATPID)), f.firstAfter(to, onPID(PATPID))
		n := f.drop(func(i int, p []byte) bool { return i >= from && i < to && PID(p) == PATPID })
		if n == 0 || n >= 16 {
			t.Fatalf("dropped %d PAT packets", n)
		}
		return want{PATError2: missed(t0, t1, 500*ms), ContinuityCountError: 1}, uint64(n)
	})
	check("PAT long gap", func(f *feed) (want, uint64) {
		from, to := f.index(2000*ms), f.index(4700*ms)
		t0, t1 := f.lastBefore(from, onPID(PATPID)), f.firstAfter(to, onPID(PATPID))
		n := f.drop(func(i int, p []byte) bool { return i >= from && i < to && PID(p) == PATPID })
		if m := missed(t0, t1, 500*ms); m < 5 {
			t.Fatalf("gap %d ms", (t1-t0)/ms)
		}
		return want{PATError2: missed(t0, t1, 500*ms), ContinuityCountError: gaps(n)}, uint64(n % 16)
	})
	check("PAT scrambled and wrong table", func(f *feed) (want, uint64) {
		f.pk[f.find(1000, onPID(PATPID))][3] |= 0x80
		f.pk[f.find(3000, onPID(PATPID))][3] |= 0xC0
		section(f.pk[f.find(5000, onPID(PATPID))])[0] = 0x42
		return want{PATError2: 3}, 0
	})
	check("PMT gap", func(f *feed) (want, uint64) {
		from, to := f.index(5000*ms), f.index(6200*ms)
		t0, t1 := f.lastBefore(from, onPID(pmtPID)), f.firstAfter(to, onPID(pmtPID))
		n := f.drop(func(i int, p []byte) bool { return i >= from && i < to && PID(p) == pmtPID })
		if missed(t0, t1, 500*ms) < 2 {
			t.Fatalf("gap %d ms", (t1-t0)/ms)
		}
		return want{PMTError2: missed(t0, t1, 500*ms), ContinuityCountError: 1}, uint64(n)
	})
	check("PMT scrambled and wrong table", func(f *feed) (want, uint64) {
		f.pk[f.find(1000, onPID(pmtPID))][3] |= 0x40
		section(f.pk[f.find(3000, onPID(pmtPID))])[0] = 0x03
		return want{PMTError2: 2}, 0
	})
	check("receiver stall", func(f *feed) (want, uint64) {
		// Everything from 4 s on arrives 150 ms late: PCRs 190 ms apart.
		for i := f.index(4000 * ms); i < len(f.at); i++ {
			f.at[i] += 150 * ms
		}
		return want{PCRRepetitionError: 1}, 0
	})
	check("silent input", func(f *feed) (want, uint64) {
		// Two seconds without any packet: the repetition deadlines pause,
		// the PCR is late once.
		for i := f.index(4000 * ms); i < len(f.at); i++ {
			f.at[i] += 2000 * ms
		}
		return want{PCRRepetitionError: 1}, 0
	})
	check("PCRs missing", func(f *feed) (want, uint64) {
		// Four PCRs removed (PCR_flag cleared): 200 ms between PCRs on
		// arrival and in value.
		n := 0
		for i := f.index(2000 * ms); n < 4; i++ {
			if p := f.pk[i]; PID(p) == video {
				if _, ok := PCR(p); ok {
					p[5] &^= 0x10
					n++
				}
			}
		}
		return want{PCRRepetitionError: 1, PCRDiscontinuityIndicatorError: 1}, 0
	})
	shiftPCRs := func(f *feed, from int, delta int64, mark bool) {
		first := true
		for i := from; i < len(f.pk); i++ {
			p := f.pk[i]
			if v, ok := PCR(p); ok && PID(p) == video {
				SetPCR(p, uint64(int64(v)+delta+PCRWrap))
				if first && mark {
					p[5] |= 0x80 // discontinuity_indicator
				}
				first = false
			}
		}
	}
	check("PCR jump", func(f *feed) (want, uint64) {
		shiftPCRs(f, f.index(3000*ms), 500*27000, false)
		return want{PCRDiscontinuityIndicatorError: 1}, 0
	})
	check("PCR jump back", func(f *feed) (want, uint64) {
		shiftPCRs(f, f.index(3000*ms), -300*27000, false)
		return want{PCRDiscontinuityIndicatorError: 1}, 0
	})
	check("PCR jump announced", func(f *feed) (want, uint64) {
		shiftPCRs(f, f.index(3000*ms), 500*27000, true)
		return want{}, 0
	})
	check("PID missing", func(f *feed) (want, uint64) {
		from, to := f.index(2000*ms), f.index(7500*ms)
		t0, t1 := f.lastBefore(from, onPID(audio)), f.firstAfter(to, onPID(audio))
		p0, p1 := f.lastBefore(from, withPTS(audio)), f.firstAfter(to, withPTS(audio))
		n := f.drop(func(i int, p []byte) bool { return i >= from && i < to && PID(p) == audio })
		// The audio also misses its PTS deadlines all that time.
		return want{PIDError: missed(t0, t1, 5000*ms), PTSError: missed(p0, p1, 700*ms), ContinuityCountError: gaps(n)}, uint64(n % 16)
	})
	check("PTS gap", func(f *feed) (want, uint64) {
		from, to := f.index(3000*ms), f.index(4000*ms)
		p0, p1 := f.lastBefore(from, withPTS(audio)), f.firstAfter(to, withPTS(audio))
		for i := from; i < to; i++ {
			if p := f.pk[i]; withPTS(audio)(p) {
				Payload(p)[7] &^= 0xC0 // PTS_DTS_flags '00'
			}
		}
		if missed(p0, p1, 700*ms) == 0 {
			t.Fatalf("PTS gap %d ms", (p1-p0)/ms)
		}
		return want{PTSError: missed(p0, p1, 700*ms)}, 0
	})
}

// TestHealthPIDTimeout checks the user-set PID_error period.
func TestHealthPIDTimeout(t *testing.T) {
	f := pacedClip(t, "h264_aac.ts").clone()
	from, to := f.index(2000*ms), f.index(5000*ms)
	t0, t1 := f.lastBefore(from, onPID(0x101)), f.firstAfter(to, onPID(0x101))
	f.drop(func(i int, p []byte) bool { return i >= from && i < to && PID(p) == 0x101 })
	for _, timeout := range []time.Duration{time.Second, 2 * time.Second, 0} {
		h := Health{PIDTimeout: timeout}
		f.run(&h)
		w := uint64(0) // the default 5 s: a 3 s gap is fine
		if timeout != 0 {
			w = missed(t0, t1, int64(timeout))
		}
		if got := h.Count(PIDError); got != w || (timeout == time.Second && w < 2) {
			t.Errorf("PIDTimeout %v: PID_error = %d, want %d", timeout, got, w)
		}
		h.Reset()
		if h.PIDTimeout != timeout || h.Count(PIDError) != 0 {
			t.Errorf("after Reset: PIDTimeout %v, PID_error %d", h.PIDTimeout, h.Count(PIDError))
		}
	}
}

// TestHealthPCRAccuracy moves single PCR values while their packets keep
// their arrival times, as a remultiplexer that does not restamp would.
func TestHealthPCRAccuracy(t *testing.T) {
	clean := pacedClip(t, "mpeg2_mp2.ts")
	f := func(name string, delta int64, w want) {
		t.Helper()
		g := clean.clone()
		for _, rel := range []int64{1500 * ms, 2500 * ms, 3500 * ms} {
			i := g.find(g.index(rel), func(p []byte) bool { _, ok := PCR(p); return ok && PID(p) == 0x100 })
			v, _ := PCR(g.pk[i])
			SetPCR(g.pk[i], uint64(int64(v)+delta+PCRWrap))
		}
		var h Health
		g.run(&h)
		t.Run(name, func(t *testing.T) { checkCounts(t, &h, w) })
	}
	// 40 ms early: an error each (the next PCR is then 0 ms on, allowed).
	f("early", 40*27000, want{PCRAccuracyError: 3})
	// 5 ms early is within what a software receiver can tell.
	f("slightly early", 5*27000, want{})
	// 40 ms late looks like network delay and cannot be told apart.
	f("late", -40*27000, want{})

	// A lasting step: every PCR from 2 s on is 40 ms early. After
	// accuracyRebase errors the new timing is taken as the path's.
	g := clean.clone()
	for i := g.index(2000 * ms); i < len(g.pk); i++ {
		if v, ok := PCR(g.pk[i]); ok && PID(g.pk[i]) == 0x100 {
			SetPCR(g.pk[i], v+40*27000)
		}
	}
	var h Health
	g.run(&h)
	checkCounts(t, &h, want{PCRAccuracyError: accuracyRebase})
}

// TestPCRAccuracyDrift runs the PCR accuracy measure over ten minutes of
// PCRs every 40 ms whose clock drifts against the arrival clock, with an
// early PCR at the end.
func TestPCRAccuracyDrift(t *testing.T) {
	f := func(ppm, early int64, want int) {
		t.Helper()
		var a pcrAccuracy
		now := feedBase
		a.reset(now)
		errs := 0
		for i := range 15000 {
			d := int64(40 * 27000)
			if i == 14000 {
				d += early * 27000
			} else if i == 14001 {
				d -= early * 27000
			}
			now += 40*ms + 40*ms*ppm/1_000_000
			if a.check(now, d, 100) {
				errs++
			}
		}
		if errs != want {
			t.Errorf("%d ppm, PCR %d ms early: %d errors, want %d", ppm, early, errs, want)
		}
	}
	// Arrival faster or slower than the PCR clock: no error.
	f(50, 0, 0)
	f(-50, 0, 0)
	f(-500, 0, 0)
	f(500, 0, 0)
	// The floor follows a slow sender's clock (offsets rising 30 ms over
	// ten minutes), so an early PCR is seen against the current timing.
	f(50, 25, 1)
	f(-50, 25, 1)
	f(0, 25, 1)
	f(0, 10, 0)
}

// TestHealthPrograms runs a synthetic two-program stream: the monitored
// program follows SetProgram, and a new PMT version is learnt.
func TestHealthPrograms(t *testing.T) {
	type prog struct {
		number, pmt, video, audio uint16
	}
	progs := []prog{{1, 0x1000, 0x100, 0x101}, {2, 0x1100, 0x200, 0x201}}
	// build makes 8 s of stream, a packet group every 10 ms; skip says
	// which ES packets to leave out, extra adds a stream to program 1's
	// PMT from 2 s on (version 1).
	build := func(skip func(pid uint16, t int64) bool, extra bool) *feed {
		f := &feed{}
		var cc [MaxPID + 1]uint8
		add := func(pkts []byte, at int64) {
			packets(pkts, func(p []byte) {
				pid := PID(p)
				SetCC(p, cc[pid])
				if HasPayload(p) {
					cc[pid]++
				}
				f.pk = append(f.pk, append([]byte(nil), p...))
				f.at = append(f.at, feedBase+at)
			})
		}
		pat := AppendPATSection(nil, 1, 0, []PATProgram{{0, 0x10}, {1, 0x1000}, {2, 0x1100}})
		for step := int64(0); step < 800; step++ {
			at := step * 10 * ms
			if step%10 == 0 {
				add(appendSectionPackets(nil, PATPID, 0, pat), at)
				for _, pg := range progs {
					streams := []testStream{{0x1B, pg.video, nil}, {0x0F, pg.audio, nil}}
					sec := makePMT(pg.number, pg.video, streams)
					if pg.number == 1 && extra && at >= 2000*ms {
						streams = append(streams, testStream{0x03, 0x102, nil})
						sec = makePMT(pg.number, pg.video, streams)
						sec[5] = 0xC3 // version 1
						sec = appendCRC(sec[:len(sec)-4])
					}
					add(appendSectionPackets(nil, pg.pmt, 0, sec), at)
				}
			}
			for _, pg := range progs {
				if !skip(pg.video, at) {
					// Video: PCR every 10 ms, a PES with PTS every 40 ms.
					p := packet(0xFF, SyncByte, byte(pg.video>>8), byte(pg.video), 0x30, 7, 0x10)
					SetPCR(p, uint64(at*27/1000))
					if step%4 == 0 {
						p[1] |= 0x40
						copy(p[12:], pesWith(0xE0, 0x80, encodeTimestamp(2, uint64(at*90/1000))))
					}
					add(p, at)
				}
				if !skip(pg.audio, at) && step%2 == 0 {
					p := packet(0xFF, SyncByte, 0x40|byte(pg.audio>>8), byte(pg.audio), 0x10)
					copy(p[4:], pesWith(0xC0, 0x80, encodeTimestamp(2, uint64(at*90/1000))))
					add(p, at)
				}
			}
		}
		return f
	}
	none := func(uint16, int64) bool { return false }
	f := func(name string, program uint16, g *feed, w want) {
		t.Helper()
		var h Health
		h.SetProgram(program)
		g.run(&h)
		t.Run(name, func(t *testing.T) { checkCounts(t, &h, w) })
	}
	f("clean, first program", 0, build(none, false), want{})
	f("clean, program 2", 2, build(none, false), want{})
	// Program 2's audio stops at 1 s: 7 s without it.
	quiet := build(func(pid uint16, t int64) bool { return pid == 0x201 && t >= 1000*ms }, false)
	f("program 2 audio missing, watching 1", 1, quiet, want{})
	f("program 2 audio missing, watching 2", 2, quiet,
		want{PIDError: missed(980*ms, 7990*ms, 5000*ms), PTSError: missed(980*ms, 7990*ms, 700*ms)})
	// Program 3 is not in the PAT: nothing to follow, nothing missing.
	f("absent program", 3, quiet, want{})
	// PMT version 1 adds PID 0x102 at 2 s, which never comes: PID_error
	// and PTS_error from then to the end at 7.99 s.
	ext := build(none, true)
	f("new PMT version", 1, ext, want{
		PIDError: missed(2000*ms, 7990*ms, 5000*ms), PTSError: missed(2000*ms, 7990*ms, 700*ms)})

	// Streams that stay in the new version keep their deadlines: 0x101
	// last came at 480 ms (PIDTimeout 2 s).
	ext = build(func(pid uint16, t int64) bool { return pid == 0x101 && t >= 500*ms }, true)
	h := Health{PIDTimeout: 2 * time.Second}
	ext.run(&h)
	t.Run("new PMT version, audio missing", func(t *testing.T) {
		checkCounts(t, &h, want{
			PIDError: missed(2000*ms, 7990*ms, 2000*ms) + missed(480*ms, 7990*ms, 2000*ms),
			PTSError: missed(2000*ms, 7990*ms, 700*ms) + missed(480*ms, 7990*ms, 700*ms)})
	})

	// SetProgram mid-stream switches the followed program.
	h = Health{}
	half := len(quiet.pk) / 2
	for i := range half {
		h.Packet(quiet.pk[i], quiet.at[i])
		h.Tick(quiet.at[i])
	}
	if h.Count(PIDError)+h.Count(PTSError) != 0 {
		t.Fatalf("program 1: %v", h.Counts())
	}
	h.SetProgram(2)
	for i := half; i < len(quiet.pk); i++ {
		h.Packet(quiet.pk[i], quiet.at[i])
		h.Tick(quiet.at[i])
	}
	if h.Count(PTSError) == 0 {
		t.Errorf("after SetProgram(2): %v", h.Counts())
	}
	var codecs []Codec
	for _, s := range h.AppendPIDStats(nil) {
		if s.PID == 0x200 || s.PID == 0x201 {
			codecs = append(codecs, s.Codec)
		}
	}
	if len(codecs) != 2 || codecs[0] != CodecH264 || codecs[1] != CodecAAC {
		t.Errorf("program 2 codecs %v", codecs)
	}
}

// TestHealthPIDStatsBound checks that statistics stop at MaxPIDStats PIDs
// while every packet is still checked.
func TestHealthPIDStatsBound(t *testing.T) {
	var h Health
	for pid := range uint16(100) {
		for cc := range uint8(3) {
			if pid == 90 && cc == 1 {
				continue // lost
			}
			h.Packet(ccPacket(0x300+pid, cc, 1, false), feedBase)
		}
	}
	stats := h.AppendPIDStats(nil)
	if len(stats) != MaxPIDStats || stats[0].PID != 0x300 || stats[MaxPIDStats-1].PID != 0x300+MaxPIDStats-1 {
		t.Fatalf("%d stats, first %+v", len(stats), stats[0])
	}
	for _, s := range stats {
		if s.Packets != 3 || s.Lost != 0 {
			t.Fatalf("%+v", s)
		}
	}
	if h.Lost() != 1 || h.Count(ContinuityCountError) != 1 {
		t.Errorf("Lost %d, errors %d", h.Lost(), h.Count(ContinuityCountError))
	}
}

func TestHealthDoesNotAllocate(t *testing.T) {
	f := pacedClip(t, "h264_aac.ts")
	var h Health
	f.run(&h) // learns PAT and PMT
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		h.Packet(f.pk[i], f.at[i])
		h.Tick(f.at[i])
		if i++; i == len(f.pk) {
			i = 0
		}
	})
	if allocs != 0 {
		t.Errorf("Packet+Tick: %v allocations", allocs)
	}
	allocs = testing.AllocsPerRun(10, func() {
		h.Reset()
		var buf [MaxPIDStats]PIDStat
		_ = h.AppendPIDStats(buf[:0])
	})
	if allocs != 0 {
		t.Errorf("Reset+AppendPIDStats: %v allocations", allocs)
	}
}

// FuzzHealth feeds arbitrary packet sequences with arbitrary arrival steps:
// each 192-byte record is a signed 32-bit step in microseconds and a
// packet (whose first byte is forced to the sync byte when the step is
// odd, so that more of them get past the sync check). Nothing may panic,
// and the counts must stay consistent.
func FuzzHealth(f *testing.F) {
	clip := readClip(f, "h264_aac.ts")
	var seed []byte
	for i := range 8 {
		seed = append(seed, 0x41, 0x9C, 0, 0) // 40001 µs: odd, keeps the sync byte
		seed = append(seed, clip[i*PacketSize:(i+1)*PacketSize]...)
	}
	f.Add(seed)
	f.Add(append([]byte{1, 0, 0, 0}, packet(0xFF, SyncByte, 0x40, 0, 0x10, 0, 0, 0xB0, 13, 0, 1, 0xC1, 0, 0, 0, 1, 0xE1, 0)...))
	f.Fuzz(runFuzzHealth)
}

func runFuzzHealth(t *testing.T, data []byte) {
	var h Health
	h.PIDTimeout = time.Second
	now := feedBase
	var good, tei uint64
	for off := 0; off+4 < len(data); off += 4 + PacketSize {
		step := int32(uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16 | uint32(data[off+3])<<24)
		now += int64(step) * 1000
		var p [PacketSize]byte
		copy(p[:], data[off+4:])
		if step&1 != 0 {
			p[0] = SyncByte
		}
		if p[0] == SyncByte {
			good++
			if TEI(p[:]) {
				tei++
			}
		}
		h.Packet(p[:], now)
		if step&2 != 0 {
			h.Tick(now)
		}
	}
	h.Tick(now)
	c := h.Counts()
	if c[TransportError] != tei || c[TSSyncLoss] > c[SyncByteError] {
		t.Fatalf("counts %v for %d good packets, %d with TEI", c, good, tei)
	}
	var packets, lost uint64
	for _, s := range h.AppendPIDStats(nil) {
		packets += s.Packets
		lost += s.Lost
	}
	if packets > good-tei || lost > h.Lost() || h.Lost() > 15*good {
		t.Fatalf("stats: %d packets, %d lost of %d; %d good", packets, lost, h.Lost(), good)
	}
}
