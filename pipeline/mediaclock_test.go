package pipeline

import (
	"bytes"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// feedFrom is feed for a daemon that joins late: it hears the datagrams
// from the first'th on, at the times the whole run gives them, plus skew
// (its receive jitter or clock error).
func feedFrom(s *Stream, data []byte, from time.Time, dur time.Duration, first int, skew time.Duration) {
	const dg = 7 * ts.PacketSize
	n := (len(data) + dg - 1) / dg
	for i := first; i < n; i++ {
		s.seg.now = from.Add(dur*time.Duration(i)/time.Duration(n) + skew)
		s.seg.datagram(data[i*dg : min((i+1)*dg, len(data))])
		if i%16 == 15 {
			s.seg.commit()
		}
	}
	s.seg.commit()
}

// agree checks that every segment b lists after its first (which starts
// wherever b joined) is one of a's: same number, name and bytes.
func agree(t *testing.T, a, b *Stream) int {
	t.Helper()
	byMSN := map[uint64]*Segment{}
	for _, g := range a.Timeline().Segments {
		byMSN[g.MSN] = g
	}
	same := 0
	for i, g := range b.Timeline().Segments {
		if i == 0 {
			continue
		}
		o := byMSN[g.MSN]
		switch {
		case o == nil:
			t.Errorf("segment %d of the late stream: MSN %d unknown to the other", i, g.MSN)
		case !o.Start.Equal(g.Start) || o.Duration != g.Duration:
			t.Errorf("MSN %d: %v+%v here, %v+%v there", g.MSN, g.Start, g.Duration, o.Start, o.Duration)
		case !bytes.Equal(segmentBytes(t, o), segmentBytes(t, g)):
			t.Errorf("MSN %d: same name, different bytes", g.MSN)
		default:
			same++
		}
	}
	return same
}

// Two daemons hearing one source, one joining late and receiving a little
// later, cut the same segments with the same numbers, names and bytes.
func TestOriginsAgree(t *testing.T) {
	clip := readClip(t, "h264_aac.ts")
	n := len(clip) / (7 * ts.PacketSize)
	for _, tc := range []struct {
		name  string
		from  time.Time
		join  int
		skew  time.Duration
		delta uint64 // PTS shift of the clip
	}{
		{"joins a quarter in", epoch, n / 4, 300 * time.Microsecond, 0},
		{"joins just after a cut", epoch, n / 5, -2 * time.Millisecond, 0},
		{"PTS wraps between", epoch.Add(7 * time.Hour), n / 4, time.Millisecond, ts.PTSWrap - 4*ptsPerSec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := clip
			if tc.delta != 0 {
				data = shiftClip(t, clip, tc.delta)
			}
			a := testStream(t, testPool(t, MinMemory), 2*time.Second)
			b := testStream(t, testPool(t, MinMemory), 2*time.Second)
			feed(a, data, tc.from, 10*time.Second)
			feedFrom(b, data, tc.from, 10*time.Second, tc.join, tc.skew)
			if same := agree(t, a, b); same < 2 {
				t.Errorf("%d segments in common, want at least 2", same)
			}
			if a.Stats().Count[Discontinuities] != 0 || b.Stats().Count[Discontinuities] != 0 {
				t.Error("a discontinuity in a continuous source")
			}
			// PROGRAM-DATE-TIME is within a second of arrival, and moves
			// with the media.
			for _, g := range a.Timeline().Segments {
				if d := g.Start.Sub(tc.from); d < -time.Second || d > 11*time.Second {
					t.Errorf("MSN %d: PDT %v, %v from the start of the run", g.MSN, g.Start, d)
				}
			}
		})
	}
}

// The media sequence after a restart continues from where the media clock
// is, past everything the previous run listed.
func TestRestartNumbersForward(t *testing.T) {
	clip := readClip(t, "h264_aac.ts")
	a := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(a, clip, epoch, 10*time.Second)
	last := a.Timeline().Segments[len(a.Timeline().Segments)-1].MSN
	// The same source an hour on (its clock moved on too), heard by a
	// restarted daemon.
	b := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(b, shiftClip(t, clip, 3600*ptsPerSec), epoch.Add(time.Hour), 10*time.Second)
	first := b.Timeline().Segments[0].MSN
	if want := last + 3600/2 - 5; first < want {
		t.Errorf("first MSN after the restart %d, want at least %d (the last before was %d)", first, want, last)
	}
}

// Keyframes farther apart than segment_duration: a boundary passes with no
// keyframe, the numbers fall behind the media clock, and shorter segments
// catch them up, never leaving a gap.
func TestCatchUp(t *testing.T) {
	clip := readClip(t, "h264_aac.ts") // GOP 1 s
	s := testStream(t, testPool(t, MinMemory), 700*time.Millisecond)
	feed(s, clip, epoch, 10*time.Second)
	segs := s.Timeline().Segments
	for i := 1; i < len(segs); i++ {
		if segs[i].MSN != segs[i-1].MSN+1 {
			t.Fatalf("MSN %d after %d", segs[i].MSN, segs[i-1].MSN)
		}
	}
	// 1 s GOPs make 1 s segments; the media clock gains 0.43 of a
	// segment_duration per segment, so numbers trail it: the last is
	// behind by several.
	lastSeg := segs[len(segs)-1]
	behind := int64(lastSeg.MSN-msnBase) - lastSeg.startM/s.seg.cut.segDur90
	if behind >= 0 {
		t.Errorf("the last segment's MSN is %d ahead of its boundary: should trail with 1 s GOPs and 0.7 s segments", behind)
	}
	for i, g := range segs {
		if i > 0 && g.startM < int64(g.MSN-msnBase)*s.seg.cut.segDur90 {
			t.Errorf("MSN %d starts before its boundary", g.MSN)
		}
	}
}

// A source that comes back after whole segment durations of silence takes
// its numbers from the media clock again, the same as a daemon that only
// starts now; the playlist starts over with it rather than imply a gap.
func TestSourceRestartStartsOver(t *testing.T) {
	clip := readClip(t, "h264_aac.ts")
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	end := feed(s, clip, epoch, 10*time.Second)
	s.seg.now = end.Add(11 * time.Second)
	s.seg.sourceLost()
	before := s.Timeline()
	// The encoder restarts with a new timeline 30 s on; a second daemon
	// starts with it.
	back := epoch.Add(40 * time.Second)
	again := shiftClip(t, clip, 123456789)
	feed(s, again, back, 10*time.Second)
	fresh := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(fresh, again, back, 10*time.Second)

	tl := s.Timeline()
	listed := tl.Listed()
	if !listed[0].Discontinuity || listed[0].MSN <= before.Segments[len(before.Segments)-1].MSN+1 {
		t.Fatalf("first listed after the outage: MSN %d discontinuity %v; before it the last was %d",
			listed[0].MSN, listed[0].Discontinuity, before.Segments[len(before.Segments)-1].MSN)
	}
	if tl.MediaSequence != listed[0].MSN {
		t.Errorf("media sequence %d, first listed %d", tl.MediaSequence, listed[0].MSN)
	}
	for _, g := range tl.Segments[:tl.First] {
		if g.MSN >= listed[0].MSN {
			t.Errorf("unlisted MSN %d after the first listed", g.MSN)
		}
	}
	fl := fresh.Timeline().Segments
	if len(fl) != len(listed) {
		t.Fatalf("%d segments listed after the outage, %d in the fresh daemon", len(listed), len(fl))
	}
	for i := range fl {
		if fl[i].MSN != listed[i].MSN || !fl[i].Start.Equal(listed[i].Start) || fl[i].Duration != listed[i].Duration {
			t.Errorf("segment %d: MSN %d %v+%v, fresh daemon MSN %d %v+%v", i,
				listed[i].MSN, listed[i].Start, listed[i].Duration, fl[i].MSN, fl[i].Start, fl[i].Duration)
		}
	}
}

// A new source whose clock places it before the end of the one before
// (an input switch, a restarted encoder with a shorter delay) is moved on
// by whole seconds: times never go back, and within its run they follow
// its media without a gap.
func TestNewSourceNeverGoesBack(t *testing.T) {
	clip := readClip(t, "h264_aac.ts")
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(s, clip, epoch, 10*time.Second)
	// The next source's timeline starts over and is heard from 1.5 s
	// before where the first one's media ended.
	feed(s, shiftClip(t, clip, 987654321), epoch.Add(8500*time.Millisecond), 10*time.Second)
	segs := s.Timeline().Segments
	disc := 0
	for i := 1; i < len(segs); i++ {
		prev, g := segs[i-1], segs[i]
		end := prev.Start.Add(prev.Duration)
		switch {
		case g.Discontinuity:
			disc++
			if g.Start.Before(end.Add(-10 * time.Millisecond)) {
				t.Errorf("after the discontinuity PDT %v, before the previous end %v", g.Start, end)
			}
		case g.Start.Sub(end).Abs() > time.Millisecond:
			t.Errorf("MSN %d: PDT %v, the one before ends at %v", g.MSN, g.Start, end)
		}
	}
	if disc != 1 {
		t.Errorf("%d discontinuities, want 1", disc)
	}
}

// The offset is the least PCR arrival difference rounded to a second; a
// plausible drift steps it once it is 50 ms past the half second, a
// source faster than real time never does.
func TestMediaClockOffset(t *testing.T) {
	// The source's PTS at the start, the wall clock's time modulo the
	// wrap: the offset is whole seconds, 0 if arrival is as the PCR says.
	base := uint64(wall90(epoch)) % ts.PTSWrap
	run := func(rate float64, secs int, jitter func(i int) time.Duration) (steps []int, c mediaClock) {
		wall := epoch
		for s := 0; s < secs; s++ {
			// A PCR every 40 ms, the source clock running rate times
			// as fast as the wall clock.
			for k := 0; k < 25; k++ {
				at := wall.Add(time.Duration(k) * 40 * time.Millisecond)
				media := uint64(float64(at.Sub(epoch)) * rate * ptsPerSec / float64(time.Second))
				c.pcr((base+media)%ts.PTSWrap, at.Add(jitter(s*25+k)))
			}
			wall = wall.Add(time.Second)
			if c.settle(wall) {
				steps = append(steps, s)
			}
		}
		return steps, c
	}
	noJitter := func(int) time.Duration { return 0 }
	// Arrival 0.3 s after the PCR says (plus up to 5 ms of jitter): the
	// offset rounds to the second below whatever the jitter.
	_, c := run(1, 5, func(i int) time.Duration { return 300*time.Millisecond + time.Duration(i%7)*700*time.Microsecond })
	if c.offset != 0 {
		t.Errorf("offset %d ticks, want 0 (arrival 300 to 305 ms after the PCR)", c.offset)
	}
	_, c = run(1, 5, func(i int) time.Duration { return 700*time.Millisecond + time.Duration(i%7)*700*time.Microsecond })
	if c.offset != offsetGrid {
		t.Errorf("offset %d ticks, want %d (arrival 700 to 705 ms after the PCR)", c.offset, offsetGrid)
	}
	// 200 ppm slow: the measured offset grows 0.2 ms a second and crosses
	// 0.5 s + 50 ms after about 2750 s, from an arrival 0 s after the PCR.
	steps, _ := run(1-200e-6, 4000, noJitter)
	if len(steps) != 1 || steps[0] < 2700 || steps[0] > 2800 {
		t.Errorf("200 ppm drift stepped at %v s, want once near 2750 s", steps)
	}
	// Ten times real time, for long enough that the measurement moves by
	// hours: never a step.
	if steps, _ := run(10, 2000, noJitter); len(steps) != 0 {
		t.Errorf("a source at 10x real time stepped at %v s", steps)
	}
}

// A program whose PCR PID carries no PCR still starts, on its PES
// timestamps, after the wait a missing keyframe gets.
func TestPCRPIDWithoutPCR(t *testing.T) {
	clip := append([]byte(nil), readClip(t, "h264_aac.ts")...)
	stripped := 0
	for off := 0; off+ts.PacketSize <= len(clip); off += ts.PacketSize {
		p := clip[off : off+ts.PacketSize]
		if _, ok := ts.PCR(p); ok {
			p[5] &^= 0x10 // adaptation field flags: PCR_flag off
			stripped++
		}
	}
	if stripped == 0 {
		t.Fatal("the clip has no PCR to strip")
	}
	s := testStream(t, testPool(t, MinMemory), 2*time.Second)
	feed(s, clip, epoch, 10*time.Second)
	if st := s.Stats(); st.Count[Segments] < 1 || st.Count[ForcedCuts] != 0 {
		t.Errorf("%d segments from a program without PCRs (want 1 or more), %d cut without a keyframe",
			st.Count[Segments], st.Count[ForcedCuts])
	}
}
