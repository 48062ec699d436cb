package httpts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ts"
)

func TestParseMedia(t *testing.T) {
	m, err := parseMedia([]byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n" +
		"#EXTINF:2.0,\na.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-12-03T08:00:00Z\n#EXTINF:2.0,\n2026/12/03/b.ts\n#EXT-X-ENDLIST\n"))
	if err != nil || m.target != 2*time.Second || m.seq != 41 || !m.end || len(m.segs) != 2 ||
		m.segs[0] != (mediaSeg{"a.ts", false}) || m.segs[1] != (mediaSeg{"2026/12/03/b.ts", true}) {
		t.Fatalf("%+v, %v", m, err)
	}
	m, err = parseMedia([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nlo/index.m3u8\n"))
	if err != nil || len(m.variants) != 2 || m.variants[0] != "hi/index.m3u8" {
		t.Fatalf("master: %+v, %v", m, err)
	}
	for _, bad := range []string{"", "GET / HTTP/1.1\n", "#EXTM3U\n#EXTINF:1,\na.ts\n", "#EXTM3U\n#EXT-X-TARGETDURATION:x\n", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n"} {
		if _, err := parseMedia([]byte(bad)); err == nil {
			t.Errorf("parseMedia(%q) took it", bad)
		}
	}
}

func FuzzParseMedia(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n#EXTINF:2.0,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2,\nb.ts\n"))
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhi/index.m3u8\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMedia(b)
		if err == nil && len(m.segs) > 0 && m.target <= 0 {
			t.Fatalf("segments without a target duration: %+v", m)
		}
	})
}

// A live playlist that moves on: every segment comes through once and in
// order from the live edge; a media sequence that goes back is a new
// source; ENDLIST ends the pull.
func TestPullHLS(t *testing.T) {
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	const segLen = 100 * ts.PacketSize
	// The origin moves on a segment each time the playlist is fetched,
	// restarts its sequence at the fifth fetch and ends at the seventh.
	var mu sync.Mutex
	first, last, fetches := 10, 12, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/live/index.m3u8" {
			fetches++
			switch {
			case fetches == 1:
			case fetches < 5:
				first, last = first+1, last+1
			case fetches == 5:
				first, last = 0, 2
			}
			fmt.Fprintf(w, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:%d\n", first)
			for i := first; i <= last; i++ {
				fmt.Fprintf(w, "#EXTINF:0.1,\nseg/%d.ts\n", i)
			}
			if fetches >= 7 {
				fmt.Fprint(w, "#EXT-X-ENDLIST\n")
			}
			return
		}
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/live/seg/%d.ts", &n); err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(clip[(n%20)*segLen : (n%20+1)*segLen])
	}))
	defer srv.Close()
	var got []int
	sources := 0
	emit := func(run []byte) error {
		for i := 0; i < len(run); i += ts.PacketSize {
			got = append(got, i)
		}
		return nil
	}
	err = PullHLS(context.Background(), "hls://"+srv.Listener.Addr().String()+"/live/index.m3u8", 5*time.Second, ts.NewFramer(7), emit,
		func() error { sources++; return nil })
	var e *Error
	if !errors.As(err, &e) || e.Reason != "read" || !strings.Contains(err.Error(), "ENDLIST") {
		t.Fatalf("pull ended with %v", err)
	}
	// From the live edge (3 segments: 10, 11, 12), then 13, 14, 15, then
	// the restart's 0..2: 9 segments of 100 packets, one new source.
	if len(got) != 9*100 || sources != 1 {
		t.Fatalf("%d packets (%d segments), %d new sources", len(got), len(got)/100, sources)
	}
}
