package pipeline

import (
	"math"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// The media clock: the source's own timeline, unwrapped and mapped onto
// UTC, so that two daemons hearing the same source (an origin pair, or one
// daemon and itself after a restart) cut the same segments and give them
// the same numbers, names and PROGRAM-DATE-TIME.
//
// Media time M of a timestamp is its 33-bit PTS unwrapped, plus an offset:
//
//   - Unwrapped: the first timestamp after a (re)start is placed on the 2^33
//     wrap (26.5 h) nearest the wall clock, later ones follow by signed
//     difference, so a wrap of the source's PTS is a step of one tick.
//   - Offset: wall clock minus source clock, rounded to a whole second. It
//     is measured on arrival of the program's PCRs, which a paced sender
//     sends when the PCR says: the smallest difference over a segment is
//     the source's offset plus the least network delay, the same in every
//     daemon to within their clocks' disagreement and receive jitter (a
//     millisecond here). Rounding to a second makes that agree; only a
//     source whose offset sits within that jitter of a half second can
//     round differently in two daemons.
//
// So M is the time the source's decoder model presents the frame, in UTC
// to within half a second, and the same everywhere. Segment n starts at
// the first keyframe with M ≥ n × segment_duration (cut.go), its
// PROGRAM-DATE-TIME is M, and its name follows from that and its PTS
// duration.
//
// A source whose clock drifts against UTC moves the measured offset;
// once it is more than offsetHysteresis (50 ms) past the half second, the offset
// steps by a second (PROGRAM-DATE-TIME steps with it, and the next cut
// comes a second early or late). Only a plausible drift steps it: one of
// at most maxDrift since the offset was set. A source that is not real
// time at all (a file sent as fast as it goes, a sender catching up) keeps
// its offset, and PROGRAM-DATE-TIME follows its media as it comes. A
// timeline jump or a new source measures everything again.

const (
	wrapTicks        = int64(ts.PTSWrap)
	offsetGrid       = ptsPerSec      // the offset is a whole second
	offsetHysteresis = ptsPerSec / 20 // 50 ms past the half second before it steps
	maxDrift         = 1000           // parts per million: 1 ms a second
	anchorSpan       = ptsPerSec      // source time measured before the offset is set
)

type mediaClock struct {
	patient bool // the first offset waits for anchorSpan of measurement (kept across reset)

	have bool   // last and u are set
	last uint64 // the last 33-bit timestamp seen
	u    int64  // last, unwrapped

	anchored bool
	noPCR    bool      // the PCR PID carried none for a while: PES timestamps do
	byPCR    bool      // the offset was measured from PCRs
	offset   int64     // wall − source, a whole second in 90 kHz ticks
	shift    int64     // whole seconds added to keep after the source before (see after)
	setLow   int64     // the measurement the offset was set from
	setAt    time.Time // and when

	// The least wall − source seen since the last segment start, from
	// PCRs and, for a program without them, from PES timestamps.
	pcrLow, pesLow   int64
	havePCR, havePES bool
	// The span of source time the first measurement covers: the offset
	// is set only from a second or more of it (anchorSpan).
	spanFrom, spanTo int64
	haveSpan         bool
}

// wall90 is t in 90 kHz ticks since the Unix epoch.
func wall90(t time.Time) int64 {
	return t.Unix()*ptsPerSec + int64(t.Nanosecond())*9/100000
}

// unwrap places a 33-bit timestamp on the clock's timeline; now is its
// arrival, used only when the clock has nothing to follow.
func (c *mediaClock) unwrap(pts uint64, now time.Time) int64 {
	if !c.have {
		w := wall90(now)
		c.u = int64(pts) + floorDiv(w-int64(pts)+wrapTicks/2, wrapTicks)*wrapTicks
		c.have = true
	} else {
		c.u += ts.PTSDiff(pts, c.last)
	}
	c.last = pts
	return c.u
}

// pes takes a PES timestamp of the primary PID: it moves the timeline on,
// and stands in for a PCR sample (with more jitter) when the program has
// none yet.
func (c *mediaClock) pes(pts uint64, now time.Time) int64 {
	u := c.unwrap(pts, now)
	low(&c.pesLow, &c.havePES, wall90(now)-u)
	if c.noPCR {
		c.span(u)
	}
	return u
}

// pcr takes a PCR's 90 kHz base arriving at now.
func (c *mediaClock) pcr(base uint64, now time.Time) {
	u := c.unwrap(base, now)
	low(&c.pcrLow, &c.havePCR, wall90(now)-u)
	c.span(u)
}

// span widens the source time the first measurement covers.
func (c *mediaClock) span(u int64) {
	if c.anchored {
		return
	}
	if !c.haveSpan {
		c.spanFrom, c.haveSpan = u, true
	}
	c.spanFrom, c.spanTo = min(c.spanFrom, u), max(c.spanTo, u)
}

// ready reports whether a segment can start: the offset is known, or can
// be measured from a PCR (hasPCR: the program has them) or else a PES.
//
// The first measurement must cover anchorSpan of the source's time: its
// least arrival difference is then the same in every daemon to within
// their receive jitter, where a few samples (a daemon that joined just
// before a keyframe) can be tens of milliseconds off on a sender that
// bursts a frame at a time.
func (c *mediaClock) ready(hasPCR bool) bool {
	if c.anchored {
		return true
	}
	need := int64(0)
	if c.patient {
		need = anchorSpan
	}
	if hasPCR && !c.noPCR {
		return c.havePCR && c.spanTo-c.spanFrom >= need
	}
	if !hasPCR {
		return c.havePES // no PCR at all: PES timestamps, at once
	}
	return c.havePES && c.spanTo-c.spanFrom >= need
}

func low(l *int64, have *bool, o int64) {
	if !*have || o < *l {
		*l, *have = o, true
	}
}

// media returns the media time of unwrapped timestamp u.
func (c *mediaClock) media(u int64) int64 { return u + c.offset + c.shift }

// after moves this source's media time on by whole seconds, if need be, so
// that m (its first segment's) is no earlier than end, where the source
// before it ended: times and names never go back, so no name is ever
// reused. Only the daemons that heard the source before do it alike. An
// overlap of up to 10 ms (rounding, a seamless switch) is left alone.
func (c *mediaClock) after(m, end int64) int64 {
	if m < end-ptsPerSec/100 {
		k := (end - m + offsetGrid - 1) / offsetGrid * offsetGrid
		c.shift += k
		m += k
	}
	return m
}

// settle fixes the offset at a segment start (now): the first time from
// what was measured so far, later only once drift has carried the
// measurement past the hysteresis. It reports whether the offset stepped.
// The measurement starts again for the next segment.
func (c *mediaClock) settle(now time.Time) (stepped bool) {
	l, ok := c.pcrLow, c.havePCR
	if !ok && !c.byPCR {
		// PES timestamps lead PCR by the mux delay: never mixed with an
		// offset measured from PCRs (a segment whose PCRs were lost).
		l, ok = c.pesLow, c.havePES
	}
	if ok {
		r := floorDiv(l+offsetGrid/2, offsetGrid) * offsetGrid
		d := l - c.offset
		moved := l - c.setLow
		switch {
		case !c.anchored:
			c.offset, c.anchored, c.setLow, c.setAt, c.byPCR = r, true, l, now, c.havePCR
		case r != c.offset && (d > offsetGrid/2+offsetHysteresis || d < -offsetGrid/2-offsetHysteresis) &&
			plausible(moved, now.Sub(c.setAt)):
			c.offset, c.setLow, c.setAt, stepped = r, l, now, true
		}
	}
	c.havePCR, c.havePES = false, false
	return stepped
}

// reset forgets the source's timeline: a new source, or a jump.
func (c *mediaClock) reset() { *c = mediaClock{patient: c.patient} }

// plausible reports whether a measurement that moved by moved ticks over
// elapsed is a clock drift of at most maxDrift. In ticks and nanoseconds
// (a tick is 100000/9 ns), so that no source, however far from real time,
// overflows it.
func plausible(moved int64, elapsed time.Duration) bool {
	// moved/90000 s ≤ elapsed × maxDrift/1e6, that is
	// moved × (1e6/maxDrift) × 100000/9 ≤ elapsed in ns.
	const scale = 1_000_000 / maxDrift * 100000
	m := abs(moved)
	if m > math.MaxInt64/scale {
		return false // hours a second: not a clock
	}
	return m*scale/9 <= elapsed.Nanoseconds()
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// floorDiv is a/b rounded toward minus infinity, b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// mediaTime is the UTC time of media time m (90 kHz ticks since the Unix
// epoch).
func mediaTime(m int64) time.Time {
	s := floorDiv(m, ptsPerSec)
	return time.Unix(s, (m-s*ptsPerSec)*100000/9).UTC()
}
