package hlstest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 8, 6, 37, 0, time.UTC)

// live builds a well-formed live playlist: n segments of dur seconds from
// media sequence msn, PDTs back to back from t0, URIs named by MSN.
func live(msn uint64, n int, dur float64) *Playlist {
	p := &Playlist{Version: 3, TargetDuration: int(dur + 0.5), MediaSequence: msn}
	for i := 0; i < n; i++ {
		m := msn + uint64(i)
		p.Segments = append(p.Segments, Segment{
			URI:             fmt.Sprintf("seg-%d.ts", m),
			Duration:        dur,
			ProgramDateTime: t0.Add(time.Duration(float64(m) * dur * float64(time.Second))),
			MSN:             m,
		})
	}
	return p
}

// reparse encodes p and parses it back, so hand-built playlists go through
// the parser as a fetched one would.
func reparse(t *testing.T, p *Playlist) *Playlist {
	t.Helper()
	q, err := ParsePlaylist(p.Encode(nil))
	if err != nil {
		t.Fatalf("reparse: %v\n%s", err, p.Encode(nil))
	}
	return q
}

func TestParsePlaylist(t *testing.T) {
	const text = "#EXTM3U\r\n" +
		"#EXT-X-VERSION:3\r\n" +
		"#EXT-X-TARGETDURATION:2\n" +
		"#EXT-X-MEDIA-SEQUENCE:1764144397\n" +
		"#EXT-X-DISCONTINUITY-SEQUENCE:7\n" +
		"#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"# a comment\n" +
		"\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37.000Z\n" +
		"#EXTINF:2.000,first title\n" +
		"2026/11/26/08/06/37-02000.ts\n" +
		"#EXTINF:1.96,\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T09:06:39+01:00\n" +
		"2026/11/26/08/06/39-01960.ts\n" +
		"#EXT-X-DISCONTINUITY\n" +
		"#EXT-X-UNKNOWN-TAG:whatever\n" +
		"#EXTINF:2,\n" +
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:50.500+0000\n" +
		"http://cdn.example/x.ts?a=b\n"
	p, err := ParsePlaylist([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 || p.TargetDuration != 2 || p.MediaSequence != 1764144397 || p.DiscontinuitySequence != 7 || p.EndList || p.RequiredVersion != 3 {
		t.Errorf("header: %+v", p)
	}
	if string(p.Raw) != text {
		t.Error("Raw is not the input")
	}
	want := []Segment{
		{URI: "2026/11/26/08/06/37-02000.ts", Duration: 2, ProgramDateTime: t0, MSN: 1764144397, DiscSeq: 7},
		{URI: "2026/11/26/08/06/39-01960.ts", Duration: 1.96, ProgramDateTime: t0.Add(2 * time.Second), MSN: 1764144398, DiscSeq: 7},
		{URI: "http://cdn.example/x.ts?a=b", Duration: 2, Discontinuity: true, ProgramDateTime: t0.Add(13500 * time.Millisecond), MSN: 1764144399, DiscSeq: 8},
	}
	if len(p.Segments) != len(want) {
		t.Fatalf("%d segments, want %d", len(p.Segments), len(want))
	}
	for i, s := range p.Segments {
		w := want[i]
		if s.URI != w.URI || s.Duration != w.Duration || s.Discontinuity != w.Discontinuity || !s.ProgramDateTime.Equal(w.ProgramDateTime) || s.MSN != w.MSN || s.DiscSeq != w.DiscSeq {
			t.Errorf("segment %d: %+v, want %+v", i, s, w)
		}
	}
	if err := (Rules{MinSegments: 10}).Check(p); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestParsePlaylistErrors(t *testing.T) {
	f := func(name, text string) {
		t.Helper()
		p, err := ParsePlaylist([]byte(text))
		if err == nil {
			t.Errorf("%s: parsed: %+v", name, p)
			return
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: %v does not wrap ErrSyntax", name, err)
		}
	}
	const h = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
	f("empty", "")
	f("no EXTM3U", "#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n")
	f("BOM", "\ufeff#EXTM3U\n")
	f("EXTM3U with junk", "#EXTM3Ux\n")
	f("EXTM3U twice", h+"#EXTM3U\n")
	f("master", h+"#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n")
	f("bad version", "#EXTM3U\n#EXT-X-VERSION:three\n")
	f("version twice", "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-VERSION:3\n")
	f("negative target", "#EXTM3U\n#EXT-X-TARGETDURATION:-2\n")
	f("decimal target", "#EXTM3U\n#EXT-X-TARGETDURATION:2.0\n")
	f("target twice", h+"#EXT-X-TARGETDURATION:2\n")
	f("target with space", "#EXTM3U\n#EXT-X-TARGETDURATION: 2\n")
	f("bad media sequence", h+"#EXT-X-MEDIA-SEQUENCE:x\n")
	f("media sequence overflow", h+"#EXT-X-MEDIA-SEQUENCE:18446744073709551616\n")
	f("media sequence after segment", h+"#EXTINF:2,\na.ts\n#EXT-X-MEDIA-SEQUENCE:1\n")
	f("media sequence inside segment", h+"#EXTINF:2,\n#EXT-X-MEDIA-SEQUENCE:1\na.ts\n")
	f("disc sequence after discontinuity", h+"#EXT-X-DISCONTINUITY\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXTINF:2,\na.ts\n")
	f("bad disc sequence", h+"#EXT-X-DISCONTINUITY-SEQUENCE:-1\n")
	f("URI without EXTINF", h+"a.ts\n")
	f("EXTINF without comma", h+"#EXTINF:2\na.ts\n")
	f("EXTINF negative", h+"#EXTINF:-2,\na.ts\n")
	f("EXTINF exponent", h+"#EXTINF:2e0,\na.ts\n")
	f("EXTINF two dots", h+"#EXTINF:2.0.0,\na.ts\n")
	f("EXTINF empty", h+"#EXTINF:,\na.ts\n")
	f("two EXTINF", h+"#EXTINF:2,\n#EXTINF:2,\na.ts\n")
	f("dangling EXTINF", h+"#EXTINF:2,\n")
	f("dangling discontinuity", h+"#EXTINF:2,\na.ts\n#EXT-X-DISCONTINUITY\n")
	f("discontinuity with value", h+"#EXT-X-DISCONTINUITY:1\n#EXTINF:2,\na.ts\n")
	f("endlist with value", h+"#EXT-X-ENDLIST:1\n")
	f("bad PDT", h+"#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:2,\na.ts\n")
	f("PDT without zone", h+"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37.000\n#EXTINF:2,\na.ts\n")
	f("two PDT", h+"#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37Z\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37Z\n#EXTINF:2,\na.ts\n")
	f("bad playlist type", h+"#EXT-X-PLAYLIST-TYPE:LIVE\n")
	f("bad byterange", h+"#EXT-X-BYTERANGE:10@x\n#EXTINF:2,\na.ts\n")
	f("URI with trailing space", h+"#EXTINF:2,\na.ts \n")
}

func TestRequiredVersion(t *testing.T) {
	f := func(body string, want int) {
		t.Helper()
		p, err := ParsePlaylist([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + body))
		if err != nil {
			t.Fatal(err)
		}
		if p.RequiredVersion != want {
			t.Errorf("%q: RequiredVersion %d, want %d", body, p.RequiredVersion, want)
		}
	}
	f("#EXTINF:2,\na.ts\n", 0)
	f("#EXTINF:2.0,\na.ts\n", 3)
	f("#EXT-X-KEY:METHOD=AES-128,URI=\"k\",IV=0x1\n#EXTINF:2,\na.ts\n", 2)
	f("#EXT-X-BYTERANGE:100@0\n#EXTINF:2,\na.ts\n", 4)
	f("#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:2,\na.mp4\n", 6)
}

func TestEncodeRoundTrip(t *testing.T) {
	p := live(1764144397, 5, 1.96)
	p.DiscontinuitySequence = 3
	p.Segments[2].Discontinuity = true
	p.Segments[3].Discontinuity = true
	q := reparse(t, p)
	if d := diffPlaylists(p, q); d != "" {
		t.Fatal(d)
	}
	for i, want := range []uint64{3, 3, 4, 5, 5} {
		if q.Segments[i].DiscSeq != want {
			t.Errorf("segment %d DiscSeq %d, want %d", i, q.Segments[i].DiscSeq, want)
		}
	}
}

// diffPlaylists compares the model fields the text carries (not Raw,
// RequiredVersion or DiscSeq, which the parser derives).
func diffPlaylists(a, b *Playlist) string {
	if a.Version != b.Version || a.TargetDuration != b.TargetDuration || a.MediaSequence != b.MediaSequence ||
		a.DiscontinuitySequence != b.DiscontinuitySequence || a.EndList != b.EndList || a.PlaylistType != b.PlaylistType {
		return fmt.Sprintf("header %+v, want %+v", b, a)
	}
	if len(a.Segments) != len(b.Segments) {
		return fmt.Sprintf("%d segments, want %d", len(b.Segments), len(a.Segments))
	}
	for i := range a.Segments {
		x, y := a.Segments[i], b.Segments[i]
		if x.URI != y.URI || x.Duration != y.Duration || x.Discontinuity != y.Discontinuity ||
			!x.ProgramDateTime.Equal(y.ProgramDateTime) || x.MSN != y.MSN {
			return fmt.Sprintf("segment %d: %+v, want %+v", i, y, x)
		}
	}
	return ""
}

func TestResolveURI(t *testing.T) {
	f := func(base, uri, want string) {
		t.Helper()
		if got := ResolveURI(base, uri); got != want {
			t.Errorf("ResolveURI(%q, %q) = %q, want %q", base, uri, got, want)
		}
	}
	f("http://127.0.0.1:8080/ch1/index.m3u8", "2026/11/26/08/06/37-02000.ts", "http://127.0.0.1:8080/ch1/2026/11/26/08/06/37-02000.ts")
	f("http://127.0.0.1:8080/ch1/index.m3u8?token=x", "seg.ts?a=1", "http://127.0.0.1:8080/ch1/seg.ts?a=1")
	f("http://127.0.0.1:8080/ch1/index.m3u8", "/ch2/seg.ts", "http://127.0.0.1:8080/ch2/seg.ts")
	f("http://127.0.0.1:8080/ch1/index.m3u8", "../ch2/seg.ts", "http://127.0.0.1:8080/ch2/seg.ts")
	f("http://127.0.0.1:8080/ch1/index.m3u8", "http://other:1/s.ts", "http://other:1/s.ts")
	f("/tmp/x y/index.m3u8", "seg000.ts", "/tmp/x y/seg000.ts")
	f("/tmp/x/index.m3u8", "/abs/seg.ts", "/abs/seg.ts")
}

// wantViolations checks that err wraps each sentinel in want and no other
// of the package's sentinels.
func wantViolations(t *testing.T, name string, err error, want ...error) {
	t.Helper()
	all := []error{ErrTargetDuration, ErrExtinf, ErrNoProgramDateTime, ErrProgramDateTime, ErrWindow, ErrVersion,
		ErrEndList, ErrDuplicateURI, ErrMediaSequence, ErrMSN, ErrDurationChanged, ErrDiscontinuitySequence}
	if len(want) == 0 && err != nil {
		t.Errorf("%s: unexpected violations:\n%v", name, err)
		return
	}
	if len(want) > 0 && err == nil {
		t.Errorf("%s: no violation, want %v", name, want)
		return
	}
	for _, s := range all {
		isWanted := false
		for _, w := range want {
			isWanted = isWanted || w == s
		}
		if got := errors.Is(err, s); got != isWanted {
			t.Errorf("%s: errors.Is(%v) = %v, want %v; error:\n%v", name, s, got, isWanted, err)
		}
	}
}

func TestCheck(t *testing.T) {
	f := func(name string, edit func(p *Playlist), want ...error) {
		t.Helper()
		p := live(1000, 6, 2)
		edit(p)
		wantViolations(t, name, Check(reparse(t, p)), want...)
	}
	f("good", func(p *Playlist) {})
	f("good with shorter segments", func(p *Playlist) {
		for i := range p.Segments {
			p.Segments[i].Duration = 1.6
			p.Segments[i].ProgramDateTime = t0.Add(time.Duration(i) * 1600 * time.Millisecond)
		}
	})
	f("target duration too small", func(p *Playlist) { p.Segments[5].Duration = 2.5 }, ErrTargetDuration)
	f("target duration below rounded EXTINF only", func(p *Playlist) {
		p.TargetDuration = 1
		for i := range p.Segments {
			p.Segments[i].Duration = 1.49
			p.Segments[i].ProgramDateTime = t0.Add(time.Duration(i) * 1490 * time.Millisecond)
		}
	})
	f("target duration missing", func(p *Playlist) { p.TargetDuration = 0 }, ErrTargetDuration)
	f("zero EXTINF", func(p *Playlist) { p.Segments[5].Duration = 0 }, ErrExtinf)
	f("missing PDT", func(p *Playlist) { p.Segments[2].ProgramDateTime = time.Time{} }, ErrNoProgramDateTime)
	f("PDT gap", func(p *Playlist) {
		for i := 3; i < 6; i++ {
			p.Segments[i].ProgramDateTime = p.Segments[i].ProgramDateTime.Add(500 * time.Millisecond)
		}
	}, ErrProgramDateTime)
	f("PDT jump after discontinuity", func(p *Playlist) {
		p.Segments[3].Discontinuity = true
		for i := 3; i < 6; i++ {
			p.Segments[i].ProgramDateTime = p.Segments[i].ProgramDateTime.Add(time.Hour)
		}
	})
	f("PDT back after discontinuity", func(p *Playlist) {
		p.Segments[3].Discontinuity = true
		for i := 3; i < 6; i++ {
			p.Segments[i].ProgramDateTime = p.Segments[i].ProgramDateTime.Add(-time.Hour)
		}
	}, ErrProgramDateTime)
	f("PDT within tolerance", func(p *Playlist) {
		p.Segments[4].ProgramDateTime = p.Segments[4].ProgramDateTime.Add(40 * time.Millisecond)
		p.Segments[5].ProgramDateTime = p.Segments[5].ProgramDateTime.Add(40 * time.Millisecond)
	})
	f("window too short", func(p *Playlist) {
		p.TargetDuration = 4
		for i := range p.Segments {
			p.Segments[i].Duration = 1.9
			p.Segments[i].ProgramDateTime = t0.Add(time.Duration(i) * 1900 * time.Millisecond)
		}
	}, ErrWindow)
	f("window short while filling up", func(p *Playlist) { p.Segments = p.Segments[:2] })
	f("version too low for decimal EXTINF", func(p *Playlist) {
		p.Version = 2
		p.Segments[1].Duration = 1.999
		p.Segments[2].ProgramDateTime = p.Segments[2].ProgramDateTime.Add(-time.Millisecond)
	}, ErrVersion)
	f("no version, integer EXTINF", func(p *Playlist) { p.Version = 0 })
	f("endlist", func(p *Playlist) { p.EndList = true }, ErrEndList)
	f("VOD", func(p *Playlist) { p.PlaylistType = "VOD" }, ErrEndList)
	f("duplicate URI", func(p *Playlist) { p.Segments[4].URI = p.Segments[1].URI }, ErrDuplicateURI)

	// Check's version rule must also see decimal EXTINF written as "2.000",
	// which is a whole number but needs version 3 all the same.
	p, err := ParsePlaylist([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:06:37Z\n#EXTINF:2.000,\na.ts\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantViolations(t, "2.000 without version", Check(p), ErrVersion)
}

func TestCheckRules(t *testing.T) {
	p := live(0, 3, 2)
	p.TargetDuration = 3
	if err := Check(p); err != nil {
		t.Errorf("3 segments under the default MinSegments: %v", err)
	}
	wantViolations(t, "MinSegments 3", Rules{MinSegments: 3}.Check(p), ErrWindow)

	p = live(0, 6, 2)
	p.Segments[3].ProgramDateTime = p.Segments[3].ProgramDateTime.Add(20 * time.Millisecond)
	p.Segments[4].ProgramDateTime = p.Segments[4].ProgramDateTime.Add(20 * time.Millisecond)
	p.Segments[5].ProgramDateTime = p.Segments[5].ProgramDateTime.Add(20 * time.Millisecond)
	wantViolations(t, "default tolerance", Check(p))
	wantViolations(t, "10ms tolerance", Rules{PDTTolerance: 10 * time.Millisecond}.Check(p), ErrProgramDateTime)
}

func TestCheckProgression(t *testing.T) {
	f := func(name string, prev, cur *Playlist, want ...error) {
		t.Helper()
		wantViolations(t, name, CheckProgression(reparse(t, prev), reparse(t, cur)), want...)
	}
	f("same", live(100, 6, 2), live(100, 6, 2))
	f("slid by one", live(100, 6, 2), live(101, 6, 2))
	f("slid past the window", live(100, 6, 2), live(120, 6, 2))
	f("grew", live(100, 3, 2), live(100, 6, 2))
	f("MSN went back", live(100, 6, 2), live(99, 6, 2), ErrMediaSequence)
	f("restart at zero", live(100, 6, 2), live(0, 1, 2), ErrMediaSequence)
	f("segment removed from the end", live(100, 6, 2), live(100, 5, 2), ErrMediaSequence)

	cur := live(101, 6, 2)
	cur.MediaSequence = 102 // every URI now one MSN later
	f("URI changed MSN", live(100, 6, 2), cur, ErrMSN)

	cur = live(101, 6, 2)
	cur.Segments[3].URI = "renamed.ts"
	f("MSN renamed", live(100, 6, 2), cur, ErrMSN)

	cur = live(101, 6, 2)
	cur.Segments[2].Duration = 2.04
	f("URI changed duration", live(100, 6, 2), cur, ErrDurationChanged)

	cur = live(101, 6, 2)
	cur.Segments[0].ProgramDateTime = cur.Segments[0].ProgramDateTime.Add(time.Millisecond)
	f("URI changed PDT", live(100, 6, 2), cur, ErrProgramDateTime)

	cur = live(100, 6, 2)
	cur.TargetDuration = 3
	f("target duration changed", live(100, 6, 2), cur, ErrTargetDuration)

	// Discontinuities: prev has one at MSN 102.
	prev := live(100, 6, 2)
	prev.DiscontinuitySequence = 5
	prev.Segments[2].Discontinuity = true
	disc := func(msn, ds uint64, discAt ...uint64) *Playlist {
		p := live(msn, 6, 2)
		p.DiscontinuitySequence = ds
		for i := range p.Segments {
			for _, d := range discAt {
				if p.Segments[i].MSN == d {
					p.Segments[i].Discontinuity = true
				}
			}
		}
		return p
	}
	f("discontinuity still listed", prev, disc(102, 5, 102))
	f("discontinuity left, sequence +1", prev, disc(103, 6))
	f("discontinuity left, sequence not bumped", prev, disc(103, 5), ErrDiscontinuitySequence)
	f("discontinuity still listed, sequence bumped", prev, disc(101, 6, 102), ErrDiscontinuitySequence)
	f("discontinuity sequence went back", prev, disc(101, 4, 102), ErrDiscontinuitySequence)
	f("discontinuity added to listed URI", prev, disc(101, 5, 102, 104), ErrDiscontinuitySequence)
	f("new discontinuity at the edge", prev, disc(101, 5, 102, 106))
	// Past the window: 106…111 came and went unseen, each of them may have
	// had a discontinuity, and 102's left: 6…12 are possible.
	f("unseen segments, +1", prev, disc(112, 6))
	f("unseen segments, +7", prev, disc(112, 12))
	f("unseen segments, +8", prev, disc(112, 13), ErrDiscontinuitySequence)
	f("unseen segments, +0", prev, disc(112, 5), ErrDiscontinuitySequence)
}

func TestErrorsNamePackage(t *testing.T) {
	p := live(0, 6, 2)
	p.TargetDuration = 0
	err := Check(p)
	if err == nil || !strings.HasPrefix(err.Error(), "hlstest: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}
