package hls

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/hls/m3u8"
	"github.com/slabcast/slabcast/internal/hlstest"
)

// mpdDoc is what the tests read of an MPD.
type mpdDoc struct {
	Type                  string `xml:"type,attr"`
	AvailabilityStartTime string `xml:"availabilityStartTime,attr"`
	PublishTime           string `xml:"publishTime,attr"`
	Periods               []struct {
		ID     string `xml:"id,attr"`
		Start  string `xml:"start,attr"`
		Adapts []struct {
			ContentType string `xml:"contentType,attr"`
			Template    struct {
				Timescale uint64 `xml:"timescale,attr"`
				PTO       uint64 `xml:"presentationTimeOffset,attr"`
				Start     uint64 `xml:"startNumber,attr"`
				Init      string `xml:"initialization,attr"`
				Media     string `xml:"media,attr"`
				S         []struct {
					T uint64 `xml:"t,attr"`
					D uint64 `xml:"d,attr"`
					R int    `xml:"r,attr"`
				} `xml:"SegmentTimeline>S"`
			} `xml:"SegmentTemplate"`
			Reps []struct {
				ID     string `xml:"id,attr"`
				Codecs string `xml:"codecs,attr"`
				Width  int    `xml:"width,attr"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

// box finds the first box of type typ in an MP4 byte string, descending
// into the containers named in path order (moof, traf...).
func box(b []byte, path ...string) []byte {
	for len(path) > 0 {
		found := false
		for len(b) >= 8 {
			size := int(binary.BigEndian.Uint32(b))
			if size < 8 || size > len(b) {
				return nil
			}
			if string(b[4:8]) == path[0] {
				b, path, found = b[8:size], path[1:], true
				break
			}
			b = b[size:]
		}
		if !found {
			return nil
		}
	}
	return b
}

// ept reads a one-track media segment's earliest presentation time: tfdt
// plus the first sample's composition offset (slabcast segments start
// with a keyframe, so the first sample is presented first).
func ept(t *testing.T, seg []byte) uint64 {
	t.Helper()
	b := box(seg, "moof", "traf", "tfdt")
	if len(b) < 8 {
		t.Fatalf("no tfdt in %d bytes", len(seg))
	}
	tm := uint64(binary.BigEndian.Uint32(b[4:8]))
	if b[0] == 1 {
		tm = binary.BigEndian.Uint64(b[4:12])
	}
	tr := box(seg, "moof", "traf", "trun")
	if len(tr) < 8 {
		t.Fatal("no trun")
	}
	flags := binary.BigEndian.Uint32(tr[0:4]) & 0xffffff
	off := 8 // version+flags, sample_count
	if flags&0x1 != 0 {
		off += 4 // data_offset
	}
	if flags&0x4 != 0 {
		off += 4 // first_sample_flags
	}
	for _, f := range []uint32{0x100, 0x200, 0x400} { // duration, size, flags
		if flags&f != 0 {
			off += 4
		}
	}
	if flags&0x800 != 0 {
		tm = uint64(int64(tm) + int64(int32(binary.BigEndian.Uint32(tr[off:]))))
	}
	return tm
}

// The MPD is a dynamic live-profile MPD whose SegmentTimeline names
// segments that exist, whose earliest presentation time is the timeline's
// S@t (video and audio each on its own), and whose init segments describe the tracks; the
// URLs are immutable, and a segment that does not exist is a 404.
func TestDASH(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 4)
	for _, name := range []string{"index.mpd", "Manifest.mpd"} {
		resp, body := get(t, f.base+"/ch/"+name)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/dash+xml" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: %d %v\n%s", name, resp.StatusCode, resp.Header, body)
		}
	}
	_, body := get(t, f.base+"/ch/index.mpd")
	var doc mpdDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if !bytes.Contains(body, []byte(`<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="`+f.base+`/time"/>`)) {
		t.Errorf("no UTCTiming naming this server's /time:\n%s", body)
	}
	if resp, now := get(t, f.base+"/time"); resp.StatusCode != 200 {
		t.Errorf("/time: %d", resp.StatusCode)
	} else if at, err := time.Parse(time.RFC3339Nano, string(now)); err != nil || time.Since(at).Abs() > 5*time.Second {
		t.Errorf("/time says %q (%v)", now, err)
	}
	ast, err := time.Parse(time.RFC3339, doc.AvailabilityStartTime)
	if doc.Type != "dynamic" || err != nil || time.Since(ast) > time.Minute || len(doc.Periods) != 1 || doc.Periods[0].Start != "PT0S" {
		t.Fatalf("want a dynamic MPD whose one Period starts at availabilityStartTime, the stream's start:\n%s", body)
	}
	pub, err := time.Parse(time.RFC3339, doc.PublishTime)
	if err != nil || time.Since(pub) > time.Minute || time.Until(pub) > time.Second {
		t.Errorf("publishTime %q is not now (%v)", doc.PublishTime, err)
	}
	p := doc.Periods[len(doc.Periods)-1]
	if len(p.Adapts) != 2 || p.Adapts[0].ContentType != "video" || p.Adapts[1].ContentType != "audio" {
		t.Fatalf("want a video and an audio AdaptationSet:\n%s", body)
	}
	for _, a := range p.Adapts {
		rep := a.Reps[0]
		if a.ContentType == "video" && (!strings.HasPrefix(rep.Codecs, "avc1.") || rep.Width == 0) ||
			a.ContentType == "audio" && rep.Codecs != "mp4a.40.2" {
			t.Errorf("%s representation %+v", a.ContentType, rep)
		}
		tpl := a.Template
		init := strings.ReplaceAll(tpl.Init, "$RepresentationID$", rep.ID)
		resp, ib := get(t, f.base+"/ch/"+init)
		if resp.StatusCode != 200 || box(ib, "moov", "trak") == nil || resp.Header.Get("Cache-Control") != string(valImmutable) {
			t.Fatalf("init %s: %d %v, %d bytes", init, resp.StatusCode, resp.Header, len(ib))
		}
		n := 0
		for _, s := range tpl.S {
			for r := 0; r <= s.R; r++ {
				tm := s.T + uint64(r)*s.D
				if tm < tpl.PTO {
					t.Errorf("S@t %d before presentationTimeOffset %d", tm, tpl.PTO)
				}
				u := strings.ReplaceAll(strings.ReplaceAll(tpl.Media, "$RepresentationID$", rep.ID), "$Time$", strconv.FormatUint(tm, 10))
				resp, mb := get(t, f.base+"/ch/"+u)
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d %s", u, resp.StatusCode, mb)
				}
				if got := ept(t, mb); got != tm {
					t.Errorf("%s: earliest presentation time %d, S@t %d", u, got, tm)
				}
				_, again := get(t, f.base+"/ch/"+u)
				if !bytes.Equal(mb, again) {
					t.Errorf("%s: different bytes on a second fetch", u)
				}
				n++
			}
		}
		if n < 3 {
			t.Errorf("%s: only %d segments in the timeline", a.ContentType, n)
		}
	}
	// What was packaged is kept, and counted.
	_, metrics := get(t, f.base+"/metrics")
	if m := regexp.MustCompile(`(?m)^slabcast_packaged_bytes (\d+)$`).FindSubmatch(metrics); m == nil || string(m[1]) == "0" {
		t.Errorf("slabcast_packaged_bytes after DASH fetches: %q", m)
	}
	pid := strings.TrimPrefix(p.ID, "p")
	for _, u := range []string{"dash/v256/1.m4s", "dash/x/p" + pid + "-t1.m4s", "dash/v256/p1.init.mp4", "dash/v999/p" + pid + ".init.mp4",
		"dash/v256/p" + pid + "-t0.m4s", "dash/v256/p" + pid + "-1.m4s", "dash/v256/p" + pid + "-tx.m4s", "dash/v256/abc.m4s", "dash/v256", "dash/"} {
		if resp, _ := get(t, f.base+"/ch/"+u); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", u, resp.StatusCode)
		}
	}
}

// A source restart (the clip again, its timestamps going back) is a new
// Period that starts where its first segment's wall clock says, with its
// own init and timeline; fMP4 HLS marks it with EXT-X-DISCONTINUITY and a
// new EXT-X-MAP.
func TestDASHDiscontinuityIsAPeriod(t *testing.T) {
	f := newFixture(t, time.Second, 12, nil)
	f.send(t)
	f.waitSegments(t, 4)
	f.send(t)
	f.waitSegments(t, 12)
	_, body := get(t, f.base+"/ch/index.mpd")
	var doc mpdDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Periods) != 2 {
		t.Fatalf("want two Periods, one per run:\n%s", body)
	}
	ast, _ := time.Parse(time.RFC3339, doc.AvailabilityStartTime)
	var prevStart time.Duration = -1
	for _, p := range doc.Periods {
		start, err := parseXSDuration(p.Start)
		if err != nil || start <= prevStart {
			t.Errorf("Period %s starts at %q after %v", p.ID, p.Start, prevStart)
		}
		prevStart = start
		for _, a := range p.Adapts {
			init := strings.ReplaceAll(a.Template.Init, "$RepresentationID$", a.Reps[0].ID)
			if resp, b := get(t, f.base+"/ch/"+init); resp.StatusCode != 200 || box(b, "moov") == nil {
				t.Errorf("Period %s init %s: %d", p.ID, init, resp.StatusCode)
			}
			u := strings.ReplaceAll(strings.ReplaceAll(a.Template.Media, "$RepresentationID$", a.Reps[0].ID), "$Time$", strconv.FormatUint(a.Template.S[0].T, 10))
			if resp, b := get(t, f.base+"/ch/"+u); resp.StatusCode != 200 || ept(t, b) != a.Template.S[0].T {
				t.Errorf("Period %s first segment %s: %d", p.ID, u, resp.StatusCode)
			}
		}
	}
	_, pl := get(t, f.base+"/ch/index.fmp4.m3u8")
	text := string(pl)
	if strings.Count(text, "#EXT-X-DISCONTINUITY\n") != 1 || strings.Count(text, "#EXT-X-MAP:") != 2 {
		t.Fatalf("fMP4 playlist across the restart:\n%s", pl)
	}
	// The second Period starts at its first segment's PROGRAM-DATE-TIME.
	after := text[strings.Index(text, "#EXT-X-DISCONTINUITY\n"):]
	i := strings.Index(after, "#EXT-X-PROGRAM-DATE-TIME:") + len("#EXT-X-PROGRAM-DATE-TIME:")
	pdt, err := time.Parse(time.RFC3339, after[i:i+24])
	if err != nil {
		t.Fatal(err)
	}
	if want := pdt.Sub(ast); (prevStart - want).Abs() > time.Millisecond {
		t.Errorf("second Period starts at %v after availabilityStartTime, its first segment's PDT at %v", prevStart, want)
	}
}

// parseXSDuration reads the PTnS / PTn.mmmS durations appendDuration writes.
func parseXSDuration(s string) (time.Duration, error) {
	if !strings.HasPrefix(s, "PT") || !strings.HasSuffix(s, "S") {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseFloat(s[2:len(s)-1], 64)
	return time.Duration(v * float64(time.Second)), err
}

// The MPD leaves out the stream's first segment, which starts wherever
// the server joined the source (see unlisted): it lists from the second,
// the first to start on a segment boundary, while HLS lists both. The
// Period still starts at the stream's start.
func TestDASHLeavesOutFirstSegment(t *testing.T) {
	f := newFixture(t, time.Second, 30, nil)
	f.send(t)
	f.waitSegments(t, 4)
	_, body := get(t, f.base+"/ch/index.m3u8")
	pl, err := hlstest.ParsePlaylist(body)
	if err != nil {
		t.Fatal(err)
	}
	if pl.MediaSequence != f.p.Lookup("ch").Timeline().Segments[0].MSN || len(pl.Segments) < 3 {
		t.Fatalf("want the HLS playlist to start at the stream's first segment:\n%s", body)
	}
	var pts [2]uint64
	for i := range pts {
		var ok bool
		if _, _, pts[i], ok = m3u8.ParseSegmentName([]byte(pl.Segments[i].URI)); !ok {
			t.Fatalf("segment name %q", pl.Segments[i].URI)
		}
	}
	_, mpd := get(t, f.base+"/ch/index.mpd")
	var doc mpdDoc
	if err := xml.Unmarshal(mpd, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Periods) != 1 || doc.Periods[0].Start != "PT0S" || doc.Periods[0].Adapts[0].ContentType != "video" {
		t.Fatalf("want one Period at the stream's start, video first:\n%s", mpd)
	}
	tpl := doc.Periods[0].Adapts[0].Template
	if first := tpl.S[0].T % (1 << 33); first != pts[1] {
		t.Errorf("the MPD's first video S@t is PTS %d; the stream's first segment starts at %d, its second at %d:\n%s", first, pts[0], pts[1], mpd)
	}
	if tpl.PTO%(1<<33) != pts[0] {
		t.Errorf("presentationTimeOffset %d (PTS %d), want the stream's first segment's PTS %d", tpl.PTO, tpl.PTO%(1<<33), pts[0])
	}
}
