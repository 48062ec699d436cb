package m3u8

import (
	"strings"
	"testing"
	"time"
)

func TestSegmentName(t *testing.T) {
	f := func(start time.Time, d time.Duration, pts uint64, want string) {
		t.Helper()
		got := SegmentName(start, d, pts)
		if got != want {
			t.Fatalf("SegmentName(%v, %v, %d) = %q, want %q", start, d, pts, got, want)
		}
		ms, dms, p, ok := ParseSegmentName([]byte(got))
		if !ok || ms != start.UnixMilli() || dms != d.Milliseconds() || p != pts {
			t.Fatalf("ParseSegmentName(%q) = %d, %d, %d, %v", got, ms, dms, p, ok)
		}
	}
	t0 := time.Date(2026, 11, 26, 8, 6, 37, 250e6, time.UTC)
	f(t0, 2*time.Second, 123456789, "2026/11/26/08/06/37.250-02000-123456789.ts")
	f(t0.In(time.FixedZone("x", 3600)), 2002*time.Millisecond, 0, "2026/11/26/08/06/37.250-02002-0.ts")
	f(t0, 123456789*time.Millisecond, 1<<33-1, "2026/11/26/08/06/37.250-123456789-8589934591.ts")
	f(t0, 500*time.Millisecond, 90000, "2026/11/26/08/06/37.250-00500-90000.ts")

	for _, bad := range []string{"", "x.ts", "2026/11/26/08/06/37.250-2000-1.ts", "2026/11/26/08/06/37.250-002000-1.ts",
		"2026/13/26/08/06/37.250-02000-1.ts", "2026/11/26/08/06/61.250-02000-1.ts", "2026/11/26/08/06/37.250-02000-1.tsx",
		"2026-11/26/08/06/37.250-02000-1.ts", "2026/11/26/08/06/37,250-02000-1.ts", "2026/11/26/08/06/37.25a-02000-1.ts",
		"2026/11/26/08/06/37.250-02000.ts", "2026/11/26/08/06/37.250-02000-.ts", "2026/11/26/08/06/37.250-02000-01.ts",
		"2026/11/26/08/06/37.250-02000-8589934592.ts", "2026/11/26/08/06/37.250-02000-1-2.ts", "2026/11/26/08/06/37.250-02000-x.ts"} {
		if _, _, _, ok := ParseSegmentName([]byte(bad)); ok {
			t.Errorf("ParseSegmentName(%q) accepted", bad)
		}
	}
}

func TestParseSegmentNameAllocations(t *testing.T) {
	name := []byte("2026/11/26/08/06/37.250-02000-123456789.ts")
	if n := testing.AllocsPerRun(100, func() { ParseSegmentName(name) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func FuzzParseSegmentName(f *testing.F) {
	f.Add("2026/11/26/08/06/37.250-02000-123456789.ts")
	f.Add("1970/01/01/00/00/00.000-00000-0.ts")
	f.Add("2026/11/26/08/06/37.250-02000.ts")
	f.Fuzz(func(t *testing.T, name string) {
		ms, d, pts, ok := ParseSegmentName([]byte(name))
		if !ok {
			return
		}
		if back := SegmentName(time.UnixMilli(ms), time.Duration(d)*time.Millisecond, pts); back != name {
			t.Fatalf("%q parses to %d+%d at %d, which names %q", name, ms, d, pts, back)
		}
	})
}

func TestAppendMedia(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 8, 6, 37, 250e6, time.UTC)
	m := Media{Target: 2, MediaSequence: 7, DiscontinuitySequence: 1, Segments: []Segment{
		{Start: t0, PTS: 126000, Duration: 2 * time.Second},
		{Start: t0.Add(2 * time.Second), PTS: 306000, Duration: 1500 * time.Millisecond, Discontinuity: true},
	}}
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n" +
		"#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37.250Z\n#EXTINF:2.000,\n2026/11/26/08/06/37.250-02000-126000.ts\n" +
		"#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:39.250Z\n#EXTINF:1.500,\n2026/11/26/08/06/39.250-01500-306000.ts\n"
	if got := string(AppendMedia(nil, &m)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// EXT-X-KEY comes before the first segment and at every change of key; an
// explicit IV gives every segment its own; a query goes on every URI.
func TestAppendMediaKeys(t *testing.T) {
	start := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	seg := func(i int, key string, iv *[16]byte) Segment {
		return Segment{Start: start.Add(time.Duration(i) * 2 * time.Second), Duration: 2 * time.Second, Key: key, IV: iv}
	}
	m := Media{Target: 2, MediaSequence: 7, Segments: []Segment{seg(0, "key/4.key", nil), seg(1, "key/4.key", nil), seg(2, "key/5.key", nil)}}
	got := string(AppendMedia(nil, &m))
	want := `#EXT-X-KEY:METHOD=AES-128,URI="key/4.key"
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:00:00.000Z
#EXTINF:2.000,
2026/11/26/08/00/00.000-02000-0.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:00:02.000Z
#EXTINF:2.000,
2026/11/26/08/00/02.000-02000-0.ts
#EXT-X-KEY:METHOD=AES-128,URI="key/5.key"
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:00:04.000Z
`
	if !strings.Contains(got, want) {
		t.Errorf("got:\n%s\nwant within it:\n%s", got, want)
	}
	iv := [16]byte{15: 9}
	m = Media{Target: 2, Segments: []Segment{seg(0, "http://cas/k?file=a&number=1", &iv), seg(1, "http://cas/k?file=a&number=1", &iv)}, Query: "token=t1"}
	got = string(AppendMedia(nil, &m))
	line := `#EXT-X-KEY:METHOD=AES-128,URI="http://cas/k?file=a&number=1&token=t1",IV=0x00000000000000000000000000000009` + "\n"
	if strings.Count(got, line) != 2 || strings.Count(got, ".ts?token=t1\n") != 2 {
		t.Errorf("explicit IVs and a token:\n%s", got)
	}
	m = Media{Target: 2, Segments: []Segment{seg(0, "", nil)}}
	if got := string(AppendMedia(nil, &m)); strings.Contains(got, "EXT-X-KEY") {
		t.Errorf("a clear segment got a key:\n%s", got)
	}
}
