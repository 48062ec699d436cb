package pipeline

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// maxChunks bounds one segment: 256 chunks of ChunkSize is 47 MiB, a 2 s
// segment at 190 Mbit/s. A segment that reaches it is cut at the next PES
// start whatever the frame type (see segmenter.go).
const maxChunks = 256

// ErrOverwritten is what a reader gets when the bytes it was sending have been
// reused for newer media: the reader was slower than the ring. The HTTP layer
// turns it into a closed connection, so a client sees a short body (an
// error), never a mix of old and new bytes.
var ErrOverwritten = errors.New("pipeline: segment memory was reused while being read")

type chunkRef struct {
	c   *chunk
	gen uint64 // c.gen when this segment took the chunk
}

// Segment is one HLS segment: a run of TS packets starting with PAT, PMT and
// a keyframe, stored in slab chunks. The segmenter (one goroutine) appends;
// any number of HTTP goroutines read concurrently. Fields above the line
// are fixed once the segment is published in a playlist snapshot.
type Segment struct {
	MSN           uint64        // media sequence number
	Start         time.Time     // EXT-X-PROGRAM-DATE-TIME
	Duration      time.Duration // EXTINF, from PTS
	Discontinuity bool          // first segment after a source restart or jump
	// Encrypted: a drm stream's segment, AES-128 with the key of period
	// Key, IV its MSN (pipeline/drm.go); set before it is published.
	Encrypted bool
	Key       int64
	// Period is the run of segments without a discontinuity this one is
	// in, named by its first segment: DASH's Period. Epoch is the start
	// of the stream's first segment since it (last) started: DASH's
	// availabilityStartTime.
	Period   Period
	Epoch    time.Time
	startPTS uint64
	startM   int64 // media time of its start (mediaclock.go)

	// Written by the segmenter, read by everyone: refs[i] for i < nref is
	// immutable once nref covers it; size is the count of committed bytes.
	nref atomic.Int32
	size atomic.Int64
	done atomic.Bool
	next atomic.Pointer[Segment] // the segment after this one, once cut
	refs [maxChunks]chunkRef

	// Packaged forms of the finished segment (fMP4 …), made on first
	// request (Package); slots are the HTTP layer's to assign. Their
	// size is reserved from pool's budget for them; released is set
	// when the segment's memory goes back, and they go with it.
	packed   [PackSlots]atomic.Pointer[packResult]
	pool     *Pool
	released atomic.Bool

	// segmenter-only
	wr      int64         // bytes written, committed to size once per datagram batch
	expires time.Time     // when it may be released, once it left the playlist
	longest time.Duration // the longest playlist that listed it
}

// Size is the number of bytes readable now. For a finished segment it is the
// whole segment.
func (s *Segment) Size() int64 { return s.size.Load() }

// Done reports whether the segment is finished (cut, or its stream stopped).
func (s *Segment) Done() bool { return s.done.Load() }

// Next is the segment that followed this one, or nil if none yet.
func (s *Segment) Next() *Segment { return s.next.Load() }

// Valid reports whether all of the segment's memory still holds its bytes.
func (s *Segment) Valid() bool {
	n := int(s.nref.Load())
	for i := 0; i < n; i++ {
		if r := &s.refs[i]; r.c.gen.Load() != r.gen {
			return false
		}
	}
	return true
}

// WriteRange writes bytes [off, end) of the segment to w straight from slab
// memory, one chunk-sized piece at a time, with no copy of its own. Each
// piece's chunk generation is checked before and after the write: if the
// chunk was handed to newer media meanwhile the bytes sent may be torn, and
// WriteRange stops with ErrOverwritten. end must not exceed Size().
func (s *Segment) WriteRange(w io.Writer, off, end int64) (int64, error) {
	var sent int64
	for off < end {
		ci := off / ChunkSize
		co := off % ChunkSize
		n := min(ChunkSize-co, end-off)
		r := &s.refs[ci]
		if r.c.gen.Load() != r.gen {
			return sent, ErrOverwritten
		}
		m, err := w.Write(r.c.buf[co : co+n])
		sent += int64(m)
		if r.c.gen.Load() != r.gen {
			return sent, ErrOverwritten
		}
		if err != nil {
			return sent, err
		}
		off += int64(m)
	}
	return sent, nil
}

// CopyAt copies bytes of the segment from off into dst, up to Size(), and
// returns how many. The copy is checked against the chunk generations after
// it is made, so on a nil error every byte is the segment's; on
// ErrOverwritten the bytes in dst must not be used.
func (s *Segment) CopyAt(dst []byte, off int64) (int, error) {
	end := min(off+int64(len(dst)), s.Size())
	n := 0
	for o := off; o < end; {
		r := &s.refs[o/ChunkSize]
		co := o % ChunkSize
		k := copy(dst[n:], r.c.buf[co:min(ChunkSize, co+end-o)])
		if r.c.gen.Load() != r.gen {
			return 0, ErrOverwritten
		}
		n += k
		o += int64(k)
	}
	return n, nil
}

// Reader returns an io.Reader over the finished segment whose WriteTo sends
// from slab memory (fasthttp calls WriteTo for a body stream).
func (s *Segment) Reader() *SegmentReader {
	return &SegmentReader{seg: s, end: s.Size()}
}

// SegmentReader reads one segment; see Segment.WriteRange for the
// no-torn-bytes promise. Read copies and is there for readers that are not
// io.WriterTo-aware; WriteTo does not copy.
type SegmentReader struct {
	seg      *Segment
	off, end int64
}

// Len is the number of bytes left.
func (r *SegmentReader) Len() int64 { return r.end - r.off }

// WriteTo sends the rest of the segment. The last packet's bytes are sent
// from a private copy taken after every earlier write was verified, so if
// the memory was reused at any moment before the end, the response stops
// short of its Content-Length: a client can never receive a complete body
// with reused bytes in it.
func (r *SegmentReader) WriteTo(w io.Writer) (int64, error) {
	var sent int64
	tail := max(r.end-ts.PacketSize, r.off)
	if r.off < tail {
		n, err := r.seg.WriteRange(w, r.off, tail)
		r.off += n
		sent += n
		if err != nil {
			return sent, err
		}
	}
	if r.off == r.end {
		return sent, nil
	}
	var last [ts.PacketSize]byte
	ref := &r.seg.refs[r.off/ChunkSize]
	co := r.off % ChunkSize
	k := copy(last[:], ref.c.buf[co:co+(r.end-r.off)])
	if !r.seg.Valid() {
		return sent, ErrOverwritten
	}
	n, err := w.Write(last[:k])
	r.off += int64(n)
	return sent + int64(n), err
}

func (r *SegmentReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	ci := r.off / ChunkSize
	co := r.off % ChunkSize
	ref := &r.seg.refs[ci]
	n := copy(p, ref.c.buf[co:min(ChunkSize, co+r.end-r.off)])
	if ref.c.gen.Load() != ref.gen {
		return 0, ErrOverwritten
	}
	r.off += int64(n)
	return n, nil
}

// PackSlots is how many packaged forms a Segment keeps.
const PackSlots = 4

type packResult struct {
	v    any
	err  error
	size int64  // reserved from the pool's budget for packaged forms
	id   uint64 // its entry in the pool's queue of kept forms
}

// PackedSizer is a packaged form that is not a []byte and knows its size.
type PackedSizer interface{ PackedSize() int }

func packedSize(v any) int64 {
	switch x := v.(type) {
	case []byte:
		return int64(len(x))
	case PackedSizer:
		return int64(x.PackedSize())
	}
	return 0
}

// dropPacked forgets the segment's packaged forms and gives their budget
// back; the segment's memory is going back to the pool.
func (s *Segment) dropPacked() {
	s.released.Store(true)
	for i := range s.packed {
		if p := s.packed[i].Swap(nil); p != nil && s.pool != nil {
			s.pool.packed.Add(-p.size)
		}
	}
}

// Period names a run of segments without a discontinuity by its first
// segment's MSN, wall-clock start and first PTS (33 bits); DASH anchors a
// Period's timeline on it.
type Period struct {
	MSN   uint64
	Start time.Time
	PTS   uint64
}

// StartPTS is the PTS (33 bits) of the keyframe the segment starts with: its
// earliest presentation time.
func (s *Segment) StartPTS() uint64 { return s.startPTS }

// Package returns what pack makes of the finished segment's bytes, making
// it the first time slot is asked for and keeping it with the segment, so
// a form is made once however many clients ask, and goes when the segment
// goes. The bytes pack gets are verified whole (not overwritten while
// copied); concurrent first calls may both pack, and one result is kept.
// An unfinished segment is not packaged. Forms kept are bounded by the
// pool's size: past it the oldest kept are dropped (and made again if they
// are asked for again).
func (s *Segment) Package(slot int, pack func(ts []byte) ([]byte, error)) ([]byte, error) {
	return Packaged(s, slot, pack)
}

// Packaged is Package for a form of any type: several products of one
// parse (DASH's per-track init and media segments) kept in one slot.
func Packaged[T any](s *Segment, slot int, pack func(ts []byte) (T, error)) (T, error) {
	if p := s.packed[slot].Load(); p != nil {
		v, _ := p.v.(T)
		return v, p.err
	}
	var zero T
	if !s.Done() {
		return zero, ErrNotFinished
	}
	data := make([]byte, s.Size())
	if _, err := s.CopyAt(data, 0); err != nil {
		return zero, err // overwritten: not kept, the caller answers 404
	}
	v, err := pack(data)
	r := &packResult{v: v, err: err, size: packedSize(v)}
	if s.pool != nil && r.size > 0 && !s.pool.keep(s, slot, r) {
		return v, err // larger than the whole budget: made for this request only
	}
	if !s.packed[slot].CompareAndSwap(nil, r) {
		if s.pool != nil {
			s.pool.packed.Add(-r.size) // another call's form was kept
		}
		p := s.packed[slot].Load()
		if p == nil {
			return v, err // dropped meanwhile: the segment is gone
		}
		v, _ = p.v.(T)
		return v, p.err
	}
	if s.released.Load() && s.packed[slot].CompareAndSwap(r, nil) && s.pool != nil {
		s.pool.packed.Add(-r.size) // released while packing: not kept
	}
	return v, err
}

// ErrNotFinished: a segment still being written has no packaged form.
var ErrNotFinished = errors.New("pipeline: the segment is not finished")
