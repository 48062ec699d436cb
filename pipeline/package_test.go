package pipeline

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// A packaged form is made once per segment and slot, from the segment's
// whole bytes; a segment still being written has none.
func TestSegmentPackage(t *testing.T) {
	pool := testPool(t, 64<<20)
	s := testStream(t, pool, time.Second)
	feed(s, readClip(t, "h264_aac.ts"), epoch, 10*time.Second)
	tl := s.Timeline()
	if tl == nil || len(tl.Listed()) == 0 {
		t.Fatal("no segment")
	}
	seg := tl.Listed()[0]
	calls := 0
	pack := func(data []byte) ([]byte, error) {
		calls++
		if int64(len(data)) != seg.Size() || ts.PID(data) != ts.PATPID {
			t.Errorf("pack got %d bytes starting with PID %d", len(data), ts.PID(data))
		}
		return append([]byte("packed:"), data[:4]...), nil
	}
	a, err := seg.Package(0, pack)
	b, _ := seg.Package(0, pack)
	if err != nil || calls != 1 || !bytes.Equal(a, b) || !bytes.HasPrefix(a, []byte("packed:")) {
		t.Fatalf("Package: %q %v after %d calls", a, err, calls)
	}
	if _, err := seg.Package(1, func([]byte) ([]byte, error) { return nil, errors.New("no") }); err == nil {
		t.Error("another slot's error was lost")
	}
	live := s.Live()
	if live == nil || live.Done() {
		t.Fatal("no segment being written after the feed")
	}
	if _, err := live.Package(0, pack); !errors.Is(err, ErrNotFinished) {
		t.Errorf("the live segment packaged: %v", err)
	}
}

// A released segment's packaged forms go with it, even while something
// still holds the segment.
func TestPackageFreedWithSegment(t *testing.T) {
	pool := testPool(t, 64<<20)
	s := testStream(t, pool, time.Second)
	clip := readClip(t, "h264_aac.ts")
	at := feed(s, clip, epoch, 10*time.Second)
	seg := s.Timeline().Listed()[0]
	if _, err := seg.Package(0, func(b []byte) ([]byte, error) { return b[:10], nil }); err != nil || seg.packed[0].Load() == nil {
		t.Fatalf("Package: %v", err)
	}
	for i := 0; i < 6; i++ {
		at = feed(s, clip, at.Add(time.Second), 10*time.Second)
	}
	for _, g := range s.Timeline().Segments {
		if g == seg {
			t.Fatal("the first segment is still fetchable after a minute of media")
		}
	}
	if seg.packed[0].Load() != nil {
		t.Error("a released segment keeps its packaged form")
	}
}

// Packaged forms kept are bounded by the pool's size: past it the oldest
// kept go first; one larger than the whole bound is made for its call only;
// the budget comes back with the segments.
func TestPackageBudget(t *testing.T) {
	pool := testPool(t, 64<<20)
	s := testStream(t, pool, time.Second)
	clip := readClip(t, "h264_aac.ts")
	at := feed(s, clip, epoch, 10*time.Second)
	listed := s.Timeline().Listed()
	a, b, c := listed[0], listed[1], listed[2]
	budget := pool.Size()
	big := func([]byte) ([]byte, error) { return make([]byte, budget*3/4), nil }
	if v, err := a.Package(0, big); err != nil || int64(len(v)) != budget*3/4 || a.packed[0].Load() == nil {
		t.Fatalf("the first form: %d bytes, %v, kept %v", len(v), err, a.packed[0].Load() != nil)
	}
	if pool.PackedBytes() != budget*3/4 {
		t.Errorf("PackedBytes %d, want %d", pool.PackedBytes(), budget*3/4)
	}
	// A second one takes the first one's place.
	if v, err := b.Package(0, big); err != nil || int64(len(v)) != budget*3/4 || b.packed[0].Load() == nil || a.packed[0].Load() != nil || pool.PackedEvicted() != 1 {
		t.Fatalf("past the budget: %d bytes, %v, kept %v, the oldest kept %v, evicted %d",
			len(v), err, b.packed[0].Load() != nil, a.packed[0].Load() != nil, pool.PackedEvicted())
	}
	if pool.PackedBytes() != budget*3/4 {
		t.Errorf("PackedBytes %d, want %d", pool.PackedBytes(), budget*3/4)
	}
	// One larger than the whole budget is served and not kept.
	huge := func([]byte) ([]byte, error) { return make([]byte, budget+1), nil }
	if v, err := c.Package(1, huge); err != nil || int64(len(v)) != budget+1 || c.packed[1].Load() != nil || pool.PackedUncached() != 1 {
		t.Fatalf("larger than the budget: %d bytes, %v, kept %v, uncached %d", len(v), err, c.packed[1].Load() != nil, pool.PackedUncached())
	}
	for i := 0; i < 6; i++ {
		at = feed(s, clip, at.Add(time.Second), 10*time.Second)
	}
	if pool.PackedBytes() != 0 {
		t.Errorf("PackedBytes %d after the segments went, want 0", pool.PackedBytes())
	}
}
