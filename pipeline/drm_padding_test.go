package pipeline

import (
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// A drm segment whose bytes fill its last chunk exactly (a whole multiple
// of 1024 TS packets) needs a new chunk for its PKCS7 padding. When the
// pool is empty and the stream has no unlisted segment to give up, as
// under memory pressure, taking one must not crash the worker: the segment
// may be withheld (counted), and is never published in the clear.
func TestDRMPaddingNeedsChunkPoolEmpty(t *testing.T) {
	pool := testPool(t, ChunkSize) // one chunk: the segment's own
	s := drmStream(t, pool, "aes128 keyserver=http://127.0.0.1:1/")
	s.keys.mu.Lock()
	s.keys.keys[0] = testKey(0)
	s.keys.mu.Unlock()
	g := &s.seg
	g.now = epoch
	g.start(0, wall90(epoch))
	null := make([]byte, ts.PacketSize)
	null[0], null[1], null[2], null[3] = ts.SyncByte, 0x1f, 0xff, 0x10
	for range ChunkSize / ts.PacketSize {
		g.write(null)
	}
	if seg := g.out.cur; seg == nil || seg.wr != ChunkSize || g.out.starved {
		t.Fatalf("the test's segment does not fill exactly one chunk: %+v starved %v", seg, g.out.starved)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("finishing a drm segment that fills its chunk, the pool empty: panic: %v", r)
		}
	}()
	g.now = epoch.Add(time.Second)
	g.finish(90000)
	if tl := s.Timeline(); tl != nil {
		for _, seg := range tl.Segments {
			if !seg.Encrypted {
				t.Fatalf("segment %d published in the clear", seg.MSN)
			}
		}
	}
	if s.c.n[Withheld].Load() == 0 && s.Timeline() == nil {
		t.Error("the segment was neither published nor counted as withheld")
	}
}
