package feed

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

var testClips = []string{"h264_aac.ts", "hevc_mp2.ts", "mpeg2_mp2.ts"}

func readClip(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cutClip returns the packets of the first `seconds` of the clip (by PCR).
func cutClip(t *testing.T, name string, seconds float64) []byte {
	t.Helper()
	data := readClip(t, name)
	var first uint64
	have := false
	for off := 0; off < len(data); off += ts.PacketSize {
		if pcr, ok := ts.PCR(data[off:]); ok {
			if !have {
				first, have = pcr, true
			} else if float64(ts.PCRDiff(pcr, first)) >= seconds*27e6 {
				return data[:off+ts.PacketSize]
			}
		}
	}
	return data
}

// pesTime is the decode time of a PES: DTS, or PTS when there is no DTS.
func pesTime(p []byte) (uint64, bool) {
	if !ts.PUSI(p) {
		return 0, false
	}
	var h ts.PESHeader
	if ts.ParsePESHeader(ts.Payload(p), &h) != nil || !h.HasPTS {
		return 0, false
	}
	if h.HasDTS {
		return h.DTS, true
	}
	return h.PTS, true
}

// timeSteps measures, over a sequence of packets, the largest PCR step on
// pcrPID and the largest and smallest decode-time step per PES PID.
type timeSteps struct {
	pcrPID         uint16
	lastPCR        uint64
	havePCR        bool
	maxPCR, minPCR int64
	last           map[uint16]uint64
	max, min       map[uint16]int64
}

func newTimeSteps(pcrPID uint16) *timeSteps {
	return &timeSteps{pcrPID: pcrPID, minPCR: 1 << 62, last: map[uint16]uint64{}, max: map[uint16]int64{}, min: map[uint16]int64{}}
}

func (s *timeSteps) add(p []byte) {
	pid := ts.PID(p)
	if pcr, ok := ts.PCR(p); ok && pid == s.pcrPID {
		if s.havePCR {
			d := ts.PCRDiff(pcr, s.lastPCR)
			s.maxPCR, s.minPCR = max(s.maxPCR, d), min(s.minPCR, d)
		}
		s.lastPCR, s.havePCR = pcr, true
	}
	if t, ok := pesTime(p); ok {
		if prev, seen := s.last[pid]; seen {
			d := ts.PTSDiff(t, prev)
			if _, had := s.min[pid]; !had {
				s.min[pid] = d
			}
			s.max[pid], s.min[pid] = max(s.max[pid], d), min(s.min[pid], d)
		}
		s.last[pid] = t
	}
}

func TestFeedLoopIsSeamless(t *testing.T) {
	type loopCase struct {
		name string
		data []byte
		cut  bool
	}
	var cases []loopCase
	for _, name := range testClips {
		cases = append(cases, loopCase{name, readClip(t, name), false})
	}
	// A clip cut mid-stream (2.5 s by PCR) ends with frames whose PTS runs
	// ahead of its last PCR: the loop is longer than its PCR span, and
	// PCR-only packets bridge the gap.
	cases = append(cases, loopCase{"h264_aac.ts cut at 2.5 s", cutClip(t, "h264_aac.ts", 2.5), true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			clip, err := NewClip(data)
			if err != nil {
				t.Fatal(err)
			}
			if clip.PCRPID() != 0x100 {
				t.Fatalf("PCR PID 0x%x, want 0x100 (from the PMT)", clip.PCRPID())
			}
			in := newTimeSteps(clip.PCRPID())
			for off := 0; off < len(data); off += ts.PacketSize {
				in.add(data[off : off+ts.PacketSize])
			}

			lp := NewLooper(clip, true)
			out := newTimeSteps(clip.PCRPID())
			var cc ts.ContinuityChecker
			var pkt [ts.PacketSize]byte
			var pass0 []byte
			lastDue := int64(-1 << 62)
			var firstPCR uint64
			var firstPCRDue int64
			havePCR := false
			for lp.Pass() < 3 {
				due, ok := lp.Next(pkt[:])
				if !ok {
					t.Fatal("looping feed ended")
				}
				p := pkt[:]
				if due < lastDue {
					t.Fatalf("pass %d: due time goes back from %d to %d", lp.Pass(), lastDue, due)
				}
				lastDue = due
				if errs, lost := cc.Check(p); errs != 0 {
					t.Fatalf("pass %d: continuity error on PID 0x%x (CC %d, %d lost)", lp.Pass(), ts.PID(p), ts.CC(p), lost)
				}
				if ts.DiscontinuityIndicator(p) {
					t.Fatalf("pass %d: discontinuity_indicator on PID 0x%x", lp.Pass(), ts.PID(p))
				}
				// A PCR packet is due exactly at its PCR.
				if pcr, ok := ts.PCR(p); ok && ts.PID(p) == clip.PCRPID() {
					if !havePCR {
						firstPCR, firstPCRDue, havePCR = pcr, due, true
					} else if got := due - firstPCRDue; got != ts.PCRDiff(pcr, firstPCR) {
						t.Fatalf("pass %d: PCR packet due at %d, its PCR says %d", lp.Pass(), got, ts.PCRDiff(pcr, firstPCR))
					}
				}
				out.add(p)
				if lp.Pass() == 0 {
					pass0 = append(pass0, p...)
				}
			}
			// The first pass is the file, plus PCR-only packets in the gap.
			var kept []byte
			for off := 0; off < len(pass0); off += ts.PacketSize {
				p := pass0[off : off+ts.PacketSize]
				if !isFiller(p) {
					kept = append(kept, p...)
				}
			}
			if !bytes.Equal(kept, data) {
				t.Fatalf("pass 0 is not the file (%d vs %d bytes)", len(kept), len(data))
			}

			if out.minPCR <= 0 || out.maxPCR > in.maxPCR {
				t.Errorf("PCR steps over 3 passes %d..%d ticks; in the clip up to %d", out.minPCR, out.maxPCR, in.maxPCR)
			}
			fillers := 0
			for _, e := range clip.sched {
				if e.idx < 0 {
					fillers++
				}
			}
			if tc.cut {
				// The cut leaves holes in presentation (B-frames and audio
				// after the cut are missing), so the loop point can only
				// promise that decode times go forward.
				if fillers == 0 {
					t.Error("no PCR-only packets in the gap of a cut clip")
				}
				for pid, mn := range out.min {
					if mn <= 0 {
						t.Errorf("PID 0x%x: decode time step %d over 3 passes", pid, mn)
					}
				}
				return
			}
			for pid, mx := range in.max {
				if out.min[pid] <= 0 || out.max[pid] > mx {
					t.Errorf("PID 0x%x: decode time steps %d..%d over 3 passes; in the clip %d..%d", pid, out.min[pid], out.max[pid], in.min[pid], mx)
				}
			}
			// The video is the clip's longest stream, so it continues frame
			// by frame: every step one frame (3600 ticks at 25 fps).
			if out.min[0x100] != 3600 || out.max[0x100] != 3600 {
				t.Errorf("video DTS steps %d..%d over 3 passes, want 3600", out.min[0x100], out.max[0x100])
			}
		})
	}
}

// isFiller reports whether p is a PCR-only packet of the looper.
func isFiller(p []byte) bool {
	if ts.HasPayload(p) || p[4] != ts.PacketSize-5 || p[5] != 0x10 {
		return false
	}
	for _, b := range p[12:] {
		if b != 0xFF {
			return false
		}
	}
	return true
}

func TestFeedWithoutLoopIsTheFile(t *testing.T) {
	data := readClip(t, "h264_aac.ts")
	// Leading garbage is skipped up to the first sync.
	clip, err := NewClip(append([]byte("junk\x47junk"), data...))
	if err != nil {
		t.Fatal(err)
	}
	lp := NewLooper(clip, false)
	var got []byte
	var pkt [ts.PacketSize]byte
	first, last := int64(0), int64(0)
	for i := 0; ; i++ {
		due, ok := lp.Next(pkt[:])
		if !ok {
			break
		}
		if i == 0 {
			first = due
		} else if due < last {
			t.Fatalf("packet %d due at %d, before %d", i, due, last)
		}
		last = due
		got = append(got, pkt[:]...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("sent %d bytes, not the file's %d", len(got), len(data))
	}
	if d := Ticks(last - first); d < 9500*time.Millisecond || d > 10500*time.Millisecond {
		t.Fatalf("the clip is scheduled over %v, want about 10 s", d)
	}
}

func TestFeedClipErrors(t *testing.T) {
	data := readClip(t, "h264_aac.ts")
	f := func(name string, b []byte, want string) {
		t.Helper()
		_, err := NewClip(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, want)
		}
	}
	f("empty", nil, "no MPEG-TS sync byte")
	f("not TS", bytes.Repeat([]byte("hello"), 100), "no MPEG-TS sync byte")
	f("truncated", data[:len(data)-10], "not a whole number of 188-byte packets")
	broken := append([]byte(nil), data...)
	broken[100*ts.PacketSize] = 0
	f("lost sync", broken, "packet 100 (offset 18800) has no sync byte")
	// Only PAT and PMT: no PCR.
	var psi []byte
	for off := 0; off < len(data); off += ts.PacketSize {
		if pid := ts.PID(data[off:]); pid == 0 || pid == 0x1000 {
			psi = append(psi, data[off:off+ts.PacketSize]...)
		}
	}
	f("no PCR", psi, "at least two PCRs")
}

func TestNewClipRefuses(t *testing.T) {
	f := func(data []byte) {
		t.Helper()
		if _, err := NewClip(data); err == nil {
			t.Errorf("NewClip accepted %d bytes", len(data))
		}
	}
	f(nil)
	f(make([]byte, 100))
	f(make([]byte, 188))                                            // no sync byte
	f(append([]byte{0x47, 0x1F, 0xFF, 0x10}, make([]byte, 184)...)) // a null packet: no PCR, no PES
}

func TestFeedStopsOnCancel(t *testing.T) {
	clip, err := NewClip(readClip(t, "hevc_mp2.ts"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var w countingWriter
	done := make(chan error, 1)
	go func() { done <- Send(ctx, &w, NewLooper(clip, true)) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("Send did not stop within 1 s of cancel")
	}
	// 300 ms of a ~740 kbit/s clip is about 28 KB: paced, not the whole
	// loop at once.
	if w.n == 0 || w.n > 200_000 {
		t.Fatalf("sent %d bytes in 300 ms", w.n)
	}
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// TestBufferLoopsSeamlessly sends the looped clip's buffer three times over
// (Advance between) through a continuity checker and checks that no
// counter breaks and that the video's DTS and the PCR only go forward, one
// pass length per copy.
func TestBufferLoopsSeamlessly(t *testing.T) {
	c, err := LoadClip("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuffer(c)
	if b.Datagrams()*DatagramSize != len(b.buf) {
		t.Fatalf("buffer of %d bytes is not whole datagrams", len(b.buf))
	}
	if d := c.PassDuration(); d < 9*time.Second || d > 11*time.Second {
		t.Errorf("pass of the 10 s clip lasts %v", d)
	}
	var cc ts.ContinuityChecker
	var pes ts.PESHeader
	var lastPCR uint64
	var lastDTS [ts.MaxPID + 1]uint64
	var havePCR bool
	var haveDTS [ts.MaxPID + 1]bool
	timed := 0
	for round := range 3 {
		for i := range b.Datagrams() {
			d := b.Datagram(i)
			for off := 0; off < len(d); off += ts.PacketSize {
				p := d[off : off+ts.PacketSize]
				if e, _ := cc.Check(p); e != 0 {
					t.Fatalf("round %d datagram %d: continuity error on PID %d", round, i, ts.PID(p))
				}
				if pcr, ok := ts.PCR(p); ok {
					if havePCR && ts.PCRDiff(pcr, lastPCR) <= 0 {
						t.Fatalf("round %d datagram %d: PCR went from %d to %d", round, i, lastPCR, pcr)
					}
					lastPCR, havePCR = pcr, true
				}
				if !ts.PUSI(p) || ts.ParsePESHeader(ts.Payload(p), &pes) != nil || !pes.HasPTS {
					continue
				}
				dts := pes.PTS
				if pes.HasDTS {
					dts = pes.DTS
				}
				pid := ts.PID(p)
				if haveDTS[pid] && ts.PTSDiff(dts, lastDTS[pid]) <= 0 {
					t.Fatalf("round %d datagram %d: PID %d timestamp went from %d to %d", round, i, pid, lastDTS[pid], dts)
				}
				lastDTS[pid], haveDTS[pid] = dts, true
				timed++
			}
		}
		b.Advance()
	}
	if timed == 0 || !havePCR {
		t.Fatal("no timestamps checked")
	}
}

// TestLoopAllocs keeps both hot paths, a flood sender's Advance and a paced
// sender's Next, free of allocations.
func TestLoopAllocs(t *testing.T) {
	c, err := LoadClip("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuffer(c)
	if n := testing.AllocsPerRun(3, b.Advance); n != 0 {
		t.Errorf("Advance allocates %v times", n)
	}
	lp := NewLooper(c, true)
	var pkt [ts.PacketSize]byte
	if n := testing.AllocsPerRun(1000, func() { lp.Next(pkt[:]) }); n != 0 {
		t.Errorf("Next allocates %v times", n)
	}
}

// TestBufferDue checks the buffer's schedule: from 0, rising, within the
// buffer's media time, and a datagram that starts with a PCR packet of the
// PCR PID due at its PCR.
func TestBufferDue(t *testing.T) {
	for _, name := range testClips {
		c, err := NewClip(readClip(t, name))
		if err != nil {
			t.Fatal(err)
		}
		b := NewBuffer(c)
		if b.Due(0) != 0 {
			t.Errorf("%s: datagram 0 due at %v", name, b.Due(0))
		}
		var ref uint64
		var refAt time.Duration
		haveRef := false
		for i := range b.Datagrams() {
			if i > 0 && b.Due(i) < b.Due(i-1) {
				t.Fatalf("%s: datagram %d due at %v, before datagram %d at %v", name, i, b.Due(i), i-1, b.Due(i-1))
			}
			p := b.Datagram(i)[:ts.PacketSize]
			if pcr, ok := ts.PCR(p); ok && ts.PID(p) == c.PCRPID() {
				if !haveRef {
					ref, refAt, haveRef = pcr, b.Due(i), true
				} else if got, want := b.Due(i)-refAt, Ticks(ts.PCRDiff(pcr, ref)); got-want > time.Microsecond || want-got > time.Microsecond {
					t.Fatalf("%s: datagram %d due %v after the first PCR datagram, its PCR says %v", name, i, got, want)
				}
			}
		}
		if last := b.Due(b.Datagrams() - 1); last >= b.Duration() {
			t.Errorf("%s: last datagram due at %v in a buffer of %v", name, last, b.Duration())
		}
	}
}
