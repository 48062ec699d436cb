package pipeline

import "time"

// The segment window: finished segments, the ones a playlist lists, and
// when each may go. It decides the numbers a playlist carries (media
// sequence, discontinuity sequence, target duration) so that none goes
// back, and keeps every segment fetchable for as long as RFC 8216 §6.2.2
// asks.

// window holds a stream's finished segments.
type window struct {
	count    int        // segment_count: segments listed
	maxKeep  int        // hard bound on segments kept, whatever the clock says
	segs     []*Segment // finished, fetchable, oldest first
	last     *Segment   // the last segment finished: the one before cur
	msn      uint64     // media sequence number of the next segment
	numbered bool       // msn is set: the first segment takes it from the media clock
	disc     bool       // the next segment starts after a discontinuity
	discGone uint64     // discontinuity-flagged segments released
	target   int        // EXT-X-TARGETDURATION; never goes down
	firstMSN uint64     // first segment listed; never goes back
}

func (w *window) init(segDur time.Duration, count int) {
	w.count = count
	// Media sequence numbers come from the media clock (segmenter.start):
	// after a restart they still move forward, and agree with any other
	// daemon hearing the source.
	w.target = int((segDur + time.Second - 1) / time.Second)
	// Segments leave by time (see expire); this bound only guards memory
	// against a clock that stands still.
	w.maxKeep = 4*count + 8
}

// add takes a finished segment and moves the window on (see expire).
func (w *window) add(seg *Segment, now time.Time, pool *Pool) {
	w.segs = append(w.segs, seg)
	if r := int((seg.Duration + time.Second/2) / time.Second); r > w.target {
		w.target = r
	}
	w.expire(now, pool)
}

// first is the index in segs of the first segment the playlist lists: the
// last segment_count, more when needed to cover three target durations
// (RFC 8216 §6.2.2), but never one that an earlier playlist had already
// dropped, so EXT-X-MEDIA-SEQUENCE never goes back.
func (w *window) first() int {
	n := len(w.segs)
	first := max(n-w.count, 0)
	for first < n && w.segs[first].MSN < w.firstMSN {
		first++
	}
	var total time.Duration
	for i := first; i < n; i++ {
		total += w.segs[i].Duration
	}
	for first > 0 && total < 3*time.Duration(w.target)*time.Second && w.segs[first-1].MSN >= w.firstMSN {
		first--
		total += w.segs[first].Duration
	}
	return first
}

// expire moves the window on and releases the segments whose time is up.
// RFC 8216 §6.2.2: a segment that leaves the playlist stays available for
// its duration plus the duration of the playlist that last listed it.
func (w *window) expire(now time.Time, pool *Pool) {
	first := w.first()
	if first < len(w.segs) {
		w.firstMSN = w.segs[first].MSN
	}
	var listed time.Duration
	for _, s := range w.segs[first:] {
		listed += s.Duration
	}
	for _, s := range w.segs[first:] {
		s.longest = max(s.longest, listed)
	}
	for _, s := range w.segs[:first] {
		if s.expires.IsZero() {
			s.expires = now.Add(s.Duration + s.longest)
		}
	}
	for len(w.segs) > 0 && w.segs[0].MSN < w.firstMSN &&
		(!now.Before(w.segs[0].expires) || len(w.segs) > w.maxKeep) {
		w.release(0, pool)
	}
}

// releaseUnlisted releases the oldest segment if no playlist lists it any
// more, for a stream short of memory; it reports whether it did.
func (w *window) releaseUnlisted(pool *Pool) bool {
	if len(w.segs) > 0 && w.segs[0].MSN < w.firstMSN {
		w.release(0, pool)
		return true
	}
	return false
}

// releaseOldestListed releases the oldest segment even though a playlist
// lists it, for a stream short of memory that has nothing unlisted left to
// give, as long as more than keep segments are left. The media sequence
// moves on past it: to the next segment kept, or to next (the segment
// being written) when none is. It reports whether it released one.
func (w *window) releaseOldestListed(pool *Pool, keep int, next uint64) bool {
	if len(w.segs) <= keep || len(w.segs) == 0 {
		return false
	}
	if len(w.segs) > 1 {
		next = w.segs[1].MSN
	}
	w.firstMSN = max(w.firstMSN, next)
	w.release(0, pool)
	return true
}

// release returns segs[i]'s chunks to the pool and forgets it. Readers still
// sending it notice through the chunk generations.
func (w *window) release(i int, pool *Pool) {
	seg := w.segs[i]
	if seg.Discontinuity {
		w.discGone++
	}
	n := int(seg.nref.Load())
	for j := 0; j < n; j++ {
		pool.put(seg.refs[j].c)
	}
	// Its packaged forms go with it, even while an old timeline still
	// names it (one made from its bytes after now fails their check).
	seg.dropPacked()
	copy(w.segs[i:], w.segs[i+1:])
	w.segs[len(w.segs)-1] = nil
	w.segs = w.segs[:len(w.segs)-1]
}

// timeline is what readers may see now: every fetchable segment, those
// from firstMSN on listed. It runs once per segment, so it may allocate.
func (w *window) timeline() *Timeline {
	t := &Timeline{Segments: append([]*Segment(nil), w.segs...), Target: w.target, DiscontinuitySequence: w.discGone}
	for t.First < len(t.Segments) && t.Segments[t.First].MSN < w.firstMSN {
		if t.Segments[t.First].Discontinuity {
			t.DiscontinuitySequence++
		}
		t.First++
	}
	// With nothing listed (a stream short of memory gave up its last
	// segment), the sequence is that of the next segment to be listed, so
	// it does not go back when that one comes.
	t.MediaSequence = w.msn
	if w.firstMSN != 0 {
		t.MediaSequence = w.firstMSN
	}
	if t.First < len(t.Segments) {
		t.MediaSequence = t.Segments[t.First].MSN
	}
	return t
}

// releaseAll returns every segment's memory to the pool.
func (w *window) releaseAll(pool *Pool) {
	for len(w.segs) > 0 {
		w.release(0, pool)
	}
}
