package hlstest

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults for a zero Rules.
const (
	DefaultMinSegments  = 4
	DefaultPDTTolerance = 100 * time.Millisecond
)

// Rules tunes Check. The zero value uses the defaults.
type Rules struct {
	// MinSegments is the segment count from which a playlist must span at
	// least 3 target durations (RFC 8216 §6.2.2); below it the playlist is
	// taken to be still filling up after a start. 0 means
	// DefaultMinSegments.
	MinSegments int
	// PDTTolerance is how far PDT(n+1) may lie from PDT(n)+EXTINF(n) when
	// segment n+1 has no discontinuity. 0 means DefaultPDTTolerance.
	PDTTolerance time.Duration
}

func (r Rules) minSegments() int {
	if r.MinSegments > 0 {
		return r.MinSegments
	}
	return DefaultMinSegments
}

func (r Rules) pdtTolerance() time.Duration {
	if r.PDTTolerance > 0 {
		return r.PDTTolerance
	}
	return DefaultPDTTolerance
}

// Check is Rules{}.Check.
func Check(p *Playlist) error { return Rules{}.Check(p) }

// Check applies the rules slabcast promises for a live media playlist
// (docs/SPEC.md §4, RFC 8216 §4.3.3 and §6.2):
//   - EXT-X-TARGETDURATION is present, > 0 and >= every EXTINF rounded to
//     the nearest integer (ErrTargetDuration);
//   - every EXTINF is > 0 (ErrExtinf);
//   - every segment has EXT-X-PROGRAM-DATE-TIME (ErrNoProgramDateTime), the
//     PDTs strictly increase and PDT(n+1) is PDT(n)+EXTINF(n) within
//     PDTTolerance unless segment n+1 follows a discontinuity
//     (ErrProgramDateTime);
//   - with at least MinSegments segments the EXTINFs add up to at least 3 ×
//     target duration (ErrWindow);
//   - EXT-X-VERSION is at least RequiredVersion, and at least 3 when any
//     EXTINF is not a whole number (ErrVersion);
//   - no EXT-X-ENDLIST and no EXT-X-PLAYLIST-TYPE:VOD (ErrEndList);
//   - no URI is listed twice (ErrDuplicateURI).
//
// It returns every violation found, joined with errors.Join, or nil.
func (r Rules) Check(p *Playlist) error {
	var errs []error
	add := func(sentinel error, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)))
	}
	if p.TargetDuration <= 0 {
		add(ErrTargetDuration, "missing or zero")
	}
	version := max(p.Version, 1)
	if version < p.RequiredVersion {
		add(ErrVersion, "version %d, the tags used need %d", version, p.RequiredVersion)
	}
	if p.EndList {
		add(ErrEndList, "EXT-X-ENDLIST present")
	}
	if p.PlaylistType == "VOD" {
		add(ErrEndList, "EXT-X-PLAYLIST-TYPE:VOD")
	}
	uris := make(map[string]uint64, len(p.Segments))
	fractional := false
	tol := r.pdtTolerance()
	for i := range p.Segments {
		s := &p.Segments[i]
		if prev, dup := uris[s.URI]; dup {
			add(ErrDuplicateURI, "%q at MSN %d and %d", s.URI, prev, s.MSN)
		}
		uris[s.URI] = s.MSN
		if !(s.Duration > 0) || math.IsInf(s.Duration, 0) {
			add(ErrExtinf, "MSN %d %q: EXTINF %v", s.MSN, s.URI, s.Duration)
		}
		if s.Duration != math.Trunc(s.Duration) {
			fractional = true
		}
		if p.TargetDuration > 0 && math.Round(s.Duration) > float64(p.TargetDuration) {
			add(ErrTargetDuration, "MSN %d %q: EXTINF %v rounds above target duration %d", s.MSN, s.URI, s.Duration, p.TargetDuration)
		}
		if s.ProgramDateTime.IsZero() {
			add(ErrNoProgramDateTime, "MSN %d %q", s.MSN, s.URI)
			continue
		}
		if i == 0 || p.Segments[i-1].ProgramDateTime.IsZero() {
			continue
		}
		prev := &p.Segments[i-1]
		if !s.ProgramDateTime.After(prev.ProgramDateTime) {
			add(ErrProgramDateTime, "MSN %d %q: %s does not follow %s of MSN %d",
				s.MSN, s.URI, s.ProgramDateTime.Format(time.RFC3339Nano), prev.ProgramDateTime.Format(time.RFC3339Nano), prev.MSN)
			continue
		}
		if s.Discontinuity {
			continue
		}
		want := prev.ProgramDateTime.Add(time.Duration(prev.Duration * float64(time.Second)))
		if d := s.ProgramDateTime.Sub(want); d > tol || d < -tol {
			add(ErrProgramDateTime, "MSN %d %q: %s is %v off PDT+EXTINF of MSN %d (%s), tolerance %v",
				s.MSN, s.URI, s.ProgramDateTime.Format(time.RFC3339Nano), d, prev.MSN, want.Format(time.RFC3339Nano), tol)
		}
	}
	if fractional && version < 3 {
		add(ErrVersion, "version %d with decimal EXTINF needs 3", version)
	}
	if len(p.Segments) >= r.minSegments() && p.TargetDuration > 0 {
		if total := p.TotalDuration(); total < 3*float64(p.TargetDuration) {
			add(ErrWindow, "%d segments span %.3f s < 3 × %d s", len(p.Segments), total, p.TargetDuration)
		}
	}
	return errors.Join(errs...)
}

// CheckProgression checks what may change between two successive fetches of
// one live playlist (RFC 8216 §6.2.1, §6.2.2, docs/SPEC.md §4):
//   - EXT-X-MEDIA-SEQUENCE never goes back and segments are never removed
//     from the end: cur.End() >= prev.End() (ErrMediaSequence);
//   - a URI present in both has the same MSN, and an MSN present in both
//     names the same URI (ErrMSN);
//   - a URI present in both keeps its EXTINF (ErrDurationChanged) and its
//     PROGRAM-DATE-TIME (ErrProgramDateTime);
//   - EXT-X-DISCONTINUITY-SEQUENCE never goes back and grows by exactly the
//     number of EXT-X-DISCONTINUITY tags that left with the removed
//     segments (a range when segments came and went unseen between the
//     fetches), and a URI present in both keeps its discontinuity flag and
//     discontinuity sequence number (ErrDiscontinuitySequence);
//   - EXT-X-TARGETDURATION does not change (ErrTargetDuration).
//
// It returns every violation found, joined with errors.Join, or nil.
func CheckProgression(prev, cur *Playlist) error {
	var errs []error
	add := func(sentinel error, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...)))
	}
	if cur.MediaSequence < prev.MediaSequence {
		add(ErrMediaSequence, "EXT-X-MEDIA-SEQUENCE %d after %d", cur.MediaSequence, prev.MediaSequence)
	}
	if cur.End() < prev.End() {
		add(ErrMediaSequence, "playlist now ends before MSN %d, it ended before MSN %d", cur.End(), prev.End())
	}
	if prev.TargetDuration > 0 && cur.TargetDuration != prev.TargetDuration {
		add(ErrTargetDuration, "changed from %d to %d", prev.TargetDuration, cur.TargetDuration)
	}
	byURI := make(map[string]*Segment, len(prev.Segments))
	for i := range prev.Segments {
		byURI[prev.Segments[i].URI] = &prev.Segments[i]
	}
	for i := range cur.Segments {
		s := &cur.Segments[i]
		o, ok := byURI[s.URI]
		if !ok {
			if s.MSN >= prev.MediaSequence && s.MSN < prev.End() {
				add(ErrMSN, "MSN %d was %q, now %q", s.MSN, prev.Segments[s.MSN-prev.MediaSequence].URI, s.URI)
			}
			continue
		}
		if o.MSN != s.MSN {
			add(ErrMSN, "%q had MSN %d, now %d", s.URI, o.MSN, s.MSN)
		}
		if math.Abs(o.Duration-s.Duration) > 1e-9 {
			add(ErrDurationChanged, "%q had EXTINF %v, now %v", s.URI, o.Duration, s.Duration)
		}
		if !o.ProgramDateTime.Equal(s.ProgramDateTime) {
			add(ErrProgramDateTime, "%q had PDT %s, now %s", s.URI,
				o.ProgramDateTime.Format(time.RFC3339Nano), s.ProgramDateTime.Format(time.RFC3339Nano))
		}
		if o.Discontinuity != s.Discontinuity {
			add(ErrDiscontinuitySequence, "%q had discontinuity %v, now %v", s.URI, o.Discontinuity, s.Discontinuity)
		}
		if o.DiscSeq != s.DiscSeq {
			add(ErrDiscontinuitySequence, "%q had discontinuity sequence number %d, now %d", s.URI, o.DiscSeq, s.DiscSeq)
		}
	}
	switch {
	case cur.DiscontinuitySequence < prev.DiscontinuitySequence:
		add(ErrDiscontinuitySequence, "EXT-X-DISCONTINUITY-SEQUENCE %d after %d", cur.DiscontinuitySequence, prev.DiscontinuitySequence)
	case cur.MediaSequence >= prev.MediaSequence:
		// Segments prev.MediaSequence … cur.MediaSequence-1 left the
		// window; those prev listed are known, the rest came and went
		// between the fetches.
		var left, unseen uint64
		for i := range prev.Segments {
			if prev.Segments[i].MSN < cur.MediaSequence && prev.Segments[i].Discontinuity {
				left++
			}
		}
		if cur.MediaSequence > prev.End() {
			unseen = cur.MediaSequence - prev.End()
		}
		lo, hi := prev.DiscontinuitySequence+left, prev.DiscontinuitySequence+left+unseen
		if cur.DiscontinuitySequence < lo || cur.DiscontinuitySequence > hi {
			if lo == hi {
				add(ErrDiscontinuitySequence, "EXT-X-DISCONTINUITY-SEQUENCE %d after %d, want %d (%d discontinuities left the window)",
					cur.DiscontinuitySequence, prev.DiscontinuitySequence, lo, left)
			} else {
				add(ErrDiscontinuitySequence, "EXT-X-DISCONTINUITY-SEQUENCE %d after %d, want %d…%d",
					cur.DiscontinuitySequence, prev.DiscontinuitySequence, lo, hi)
			}
		}
	}
	return errors.Join(errs...)
}
