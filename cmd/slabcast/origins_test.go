package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// An origin pair: two daemons joined to one multicast source serve the
// same playlists, segment URLs and segment bytes, and go on doing so after
// one of them restarts (pipeline/mediaclock.go). An edge cache can take
// any segment from either, and a player can move between them.
func TestOriginPair(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	const conf = `
stream ch {
  input udp://239.1.9.1:5000;
  segment_duration 2;
  segment_count 3;
}
`
	a := startDaemon(t, conf)
	startFeed(t, "../../testdata/h264_aac.ts", "udp://239.1.9.1:5000")
	waitSegments(t, a.base+"/ch/index.m3u8", 2, 20*time.Second)
	// The second origin joins mid-stream, as one does after a failure.
	time.Sleep(1300 * time.Millisecond)
	b := startDaemon(t, conf)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := parsed(t, samePlaylists(t, ctx, a, b, "index.m3u8", 20*time.Second))
	t.Logf("both list MSN %d..%d", p.MediaSequence, p.End()-1)
	n := sameSegments(t, ctx, a, b, "index.m3u8", p)
	// fMP4 is packaged from those bytes, so it agrees too.
	n += sameSegments(t, ctx, a, b, "index.fmp4.m3u8", parsed(t, samePlaylists(t, ctx, a, b, "index.fmp4.m3u8", 10*time.Second)))
	// So are LL-HLS parts: cut by media time within the segment.
	n += sameParts(t, ctx, a, b, samePlaylists(t, ctx, a, b, "index.ll.m3u8", 10*time.Second))

	// Restart the first origin: after it the two agree again, and its
	// numbers went on from where they were.
	before := p.End()
	a.restart()
	p = parsed(t, samePlaylists(t, ctx, a, b, "index.m3u8", 20*time.Second))
	if p.MediaSequence < before-4 {
		t.Errorf("after the restart the media sequence is %d, before it reached %d", p.MediaSequence, before)
	}
	n += sameSegments(t, ctx, a, b, "index.m3u8", p)
	t.Logf("%d segments and parts compared byte for byte across the pair", n)
}

// samePlaylists polls both origins' playlist until the two are byte for
// byte the same (they may differ for a moment by the newest segment, which
// each publishes when its own copy of the next keyframe arrives).
func samePlaylists(t *testing.T, ctx context.Context, a, b *testDaemon, name string, within time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(within)
	var ba, bb []byte
	for {
		var err error
		ba, _, err = hlstest.Fetch(ctx, a.base+"/ch/"+name)
		if err == nil {
			bb, _, err = hlstest.Fetch(ctx, b.base+"/ch/"+name)
		}
		// (An LL-HLS playlist lists parts once its part maker has run.)
		need, n := "#EXTINF", 1
		if strings.HasSuffix(name, ".ll.m3u8") {
			need, n = "#EXT-X-PART:", 5
		}
		if err == nil && bytes.Equal(ba, bb) && bytes.Count(ba, []byte(need)) >= n {
			return ba
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never the same on both origins within %v (last error %v):\n--- first\n%s\n--- second\n%s", name, within, err, ba, bb)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parsed parses a playlist both origins served.
func parsed(t *testing.T, b []byte) *hlstest.Playlist {
	t.Helper()
	p, err := hlstest.ParsePlaylist(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameBytes fetches uri (relative to playlist name) from both origins and
// fails the test, saying how, when the bytes differ.
func sameBytes(t *testing.T, ctx context.Context, a, b *testDaemon, name, uri string) {
	t.Helper()
	ba, _, err := hlstest.Fetch(ctx, hlstest.ResolveURI(a.base+"/ch/"+name, uri))
	if err != nil {
		t.Fatal(err)
	}
	bb, _, err := hlstest.Fetch(ctx, hlstest.ResolveURI(b.base+"/ch/"+name, uri))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ba, bb) {
		t.Errorf("%s: %d bytes from one origin, %d from the other, not the same%s", uri, len(ba), len(bb), firstDiff(ba, bb))
	}
}

// sameSegments compares every segment playlist p (name, served alike by
// both origins) lists, and its init segment if it has one, across the
// origins; it returns how many segments it compared.
func sameSegments(t *testing.T, ctx context.Context, a, b *testDaemon, name string, p *hlstest.Playlist) int {
	t.Helper()
	for _, s := range p.Segments {
		sameBytes(t, ctx, a, b, name, s.URI)
	}
	if _, rest, ok := strings.Cut(string(p.Raw), `#EXT-X-MAP:URI="`); ok {
		uri, _, _ := strings.Cut(rest, `"`)
		sameBytes(t, ctx, a, b, name, uri)
	}
	return len(p.Segments)
}

// sameParts compares every LL-HLS part the playlist lists across the
// origins; it returns how many it compared.
func sameParts(t *testing.T, ctx context.Context, a, b *testDaemon, playlist []byte) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(string(playlist), "\n") {
		_, rest, ok := strings.Cut(line, `#EXT-X-PART:`)
		if !ok {
			continue
		}
		_, rest, _ = strings.Cut(rest, `URI="`)
		uri, _, _ := strings.Cut(rest, `"`)
		sameBytes(t, ctx, a, b, "index.ll.m3u8", uri)
		n++
	}
	if n == 0 {
		t.Errorf("the LL-HLS playlist lists no part:\n%s", playlist)
	}
	return n
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf(" (first difference at byte %d, packet %d)", i, i/188)
		}
	}
	return ""
}
