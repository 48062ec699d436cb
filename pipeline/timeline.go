package pipeline

import "sync/atomic"

// MemoSlots is how many renderings a Timeline keeps (see Memo).
const MemoSlots = 8

// Timeline is what a stream has published of its segments: every segment
// still fetchable and the window of them a playlist lists, with the
// numbers a playlist carries. A new Timeline replaces the stream's at each
// finished segment; once published it never changes, so HTTP readers share
// it without locks. The pipeline publishes segments and timing only: the
// text a player reads (playlists, manifests, segment names) is package
// hls's.
type Timeline struct {
	// Segments are every fetchable segment, oldest first; those before
	// First have left the playlist and stay for late fetches (RFC 8216
	// §6.2.2).
	Segments []*Segment
	First    int
	// Target is EXT-X-TARGETDURATION in seconds: the largest rounded
	// segment duration so far, never going down.
	Target int
	// MediaSequence is the media sequence number of Segments[First], or the
	// next segment's when none is listed; it never goes back.
	MediaSequence uint64
	// DiscontinuitySequence counts the discontinuities before
	// Segments[First], those of segments already released included.
	DiscontinuitySequence uint64

	memo [MemoSlots]atomic.Pointer[[]byte]
}

// Listed returns the segments a playlist lists, oldest first.
func (t *Timeline) Listed() []*Segment { return t.Segments[t.First:] }

// Memo returns what render makes of the timeline, rendering it the first
// time slot is asked for and keeping it: the HTTP layer renders each of its
// formats once per timeline, not per request. Slots are the caller's to
// assign; concurrent first calls may both render, and one result is kept.
func (t *Timeline) Memo(slot int, render func(*Timeline) []byte) []byte {
	if p := t.memo[slot].Load(); p != nil {
		return *p
	}
	b := render(t)
	t.memo[slot].CompareAndSwap(nil, &b)
	return *t.memo[slot].Load()
}

// Find returns the fetchable segment that starts at startMs (Unix
// milliseconds) and PTS pts and lasts durMs milliseconds, the three
// figures that name a segment, or nil when there is none or its memory has been reused.
func (t *Timeline) Find(startMs, durMs int64, pts uint64) *Segment {
	for _, g := range t.Segments {
		if g.Start.UnixMilli() == startMs && g.Duration.Milliseconds() == durMs && g.startPTS == pts {
			if !g.Valid() {
				return nil
			}
			return g
		}
	}
	return nil
}
