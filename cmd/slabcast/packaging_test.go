//go:build linux

package main

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// Just-in-time packaging, its DASH and Low-Latency HLS outputs, played by
// the clients operators' viewers use: the same live channel as
// index.mpd (dash.js, Shaka Player, GStreamer, ffmpeg) and index.ll.m3u8
// (hls.js in low-latency mode), each for 20 s, with the MPD checked
// against the DASH schema and the LL-HLS playlist against RFC 8216bis's
// rules.

// playFor is how long each player plays.
const playFor = 20 * time.Second

func httpGet(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func probeCodecs(t *testing.T, ctx context.Context, u string) string {
	t.Helper()
	streams, err := hlstest.Probe(ctx, u)
	if err != nil {
		t.Fatalf("ffprobe %s: %v", u, err)
	}
	var codecs []string
	for _, s := range streams {
		codecs = append(codecs, s.CodecName)
	}
	sort.Strings(codecs)
	return strings.Join(codecs, ",")
}

func TestDASHPlayers(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	chromium := playerTools(t, "dashjs", "shaka")
	// segment_duration 2: with 1, audio segments (cut at the source's
	// PES, here about 0.23 s of AAC each) can start less than a second
	// apart, and ffmpeg's live DASH reader then reads one segment over
	// and over (hls.unlisted has the arithmetic); whether two do depends
	// on where the PTS fall in whole seconds, which changes daily with
	// the 2^33 wrap. ffmpegReadable checks what ffmpeg needs.
	d := startDaemon(t, `
stream tv { input udp://239.6.2.1:5000; segment_duration 2; segment_count 6; }
stream locked { input udp://239.6.2.1:5000; drm aes128 keyserver=http://127.0.0.1:1/cas; }
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.6.2.1:5000", Video: "h264"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d.plays(t, ctx, "tv", 3)
	mpd := d.base + "/tv/index.mpd"

	code, hdr, body := httpGet(t, mpd)
	if code != 200 || hdr.Get("Content-Type") != "application/dash+xml" || hdr.Get("Cache-Control") != "no-cache" {
		t.Fatalf("MPD: %d %v\n%s", code, hdr, body)
	}
	validateMPD(t, body)
	ffmpegReadable(t, body)
	if code, _, alias := httpGet(t, d.base+"/tv/Manifest.mpd"); code != 200 || !strings.HasPrefix(string(alias), "<?xml") {
		t.Errorf("Manifest.mpd: %d", code)
	}
	if got := probeCodecs(t, ctx, mpd); got != "aac,h264" {
		t.Errorf("ffprobe reads %s in the MPD, want aac,h264", got)
	}
	if code, _, _ := httpGet(t, d.base+"/locked/index.mpd"); code != 403 {
		t.Errorf("a drm stream's MPD: %d, want 403 (no cleartext form)", code)
	}

	t.Run("ffmpeg", func(t *testing.T) {
		if err := hlstest.Decode(ctx, mpd, playFor.Seconds()); err != nil {
			t.Errorf("ffmpeg -xerror on the MPD: %v", err)
		}
	})
	page := startPlayerServer(t)
	for _, player := range []string{"dashjs", "shaka"} {
		t.Run(player, func(t *testing.T) {
			st := checkDASHPlays(t, chromium, page, mpd, player, playFor)
			t.Logf("%s: %v", player, st)
		})
	}
	t.Run("gstreamer", func(t *testing.T) {
		// Not yet: GStreamer (1.22, and master as of writing) seeks a
		// SegmentTimeline stream to the wrong segment whenever its first
		// S is not at MPD time 0: gst_mpd_client2_stream_seek computes
		// repeat_index = ((ts - segment->start) + first S's start) /
		// duration, adding the first S's start once too often (upstream
		// commit 8a9821e805). A live window slides, so at each MPD update
		// dashdemux2 re-seeks further past the live edge (6 s, 9, 13,
		// 21...) and waits for media that is not there. Kept runnable:
		// SLABCAST_GST_DASH=1.
		if os.Getenv("SLABCAST_GST_DASH") == "" {
			t.Skip("GStreamer's dashdemux2 mis-seeks a sliding SegmentTimeline (gst_mpd_client2_stream_seek's repeat_index); SLABCAST_GST_DASH=1 runs it")
		}
		st := gstPlays(t, ctx, mpd, playFor)
		t.Logf("GStreamer: %v", st)
	})
	// The MPD still validates after the players' minutes of updates.
	_, _, body = httpGet(t, mpd)
	validateMPD(t, body)
	ffmpegReadable(t, body)
}

// ffmpegReadable fails the test when two consecutive segments of one
// track in the MPD start within the same whole second: ffmpeg's DASH
// reader (libavformat/dashdec.c refresh_manifest; 5.1, and master as of
// writing) finds the segment to read next by its start truncated to
// whole seconds, so it would go back to the one before and read it
// again.
func ffmpegReadable(t *testing.T, mpd []byte) {
	t.Helper()
	var doc struct {
		Periods []struct {
			Adapts []struct {
				ContentType string `xml:"contentType,attr"`
				Template    struct {
					Timescale uint64 `xml:"timescale,attr"`
					S         []struct {
						T uint64 `xml:"t,attr"`
						D uint64 `xml:"d,attr"`
						R int    `xml:"r,attr"`
					} `xml:"SegmentTimeline>S"`
				} `xml:"SegmentTemplate"`
			} `xml:"AdaptationSet"`
		} `xml:"Period"`
	}
	if err := xml.Unmarshal(mpd, &doc); err != nil {
		t.Fatalf("MPD: %v", err)
	}
	for _, p := range doc.Periods {
		for _, a := range p.Adapts {
			var starts []uint64
			ts := a.Template.Timescale
			for _, s := range a.Template.S {
				for r := 0; r <= s.R; r++ {
					starts = append(starts, s.T+uint64(r)*s.D)
				}
			}
			for i := 1; i < len(starts) && ts > 0; i++ {
				if starts[i-1] >= starts[i]/ts*ts {
					t.Errorf("%s segments at %d and %d (timescale %d) start in the same second: ffmpeg would read the first twice\n%s",
						a.ContentType, starts[i-1], starts[i], ts, mpd)
				}
			}
			if len(starts) < 2 {
				t.Errorf("%s: %d segments in the MPD", a.ContentType, len(starts))
			}
		}
	}
}

var (
	reAttr = regexp.MustCompile(`([A-Z-]+)=("[^"]*"|[^,]*)`)
)

// tagAttrs parses an HLS tag's attribute list.
func tagAttrs(line string) map[string]string {
	out := map[string]string{}
	if i := strings.IndexByte(line, ':'); i >= 0 {
		for _, m := range reAttr.FindAllStringSubmatch(line[i+1:], -1) {
			out[m[1]] = strings.Trim(m[2], `"`)
		}
	}
	return out
}

// llPlaylist is what the test reads of an LL-HLS playlist.
type llPlaylist struct {
	version, partTarget, holdBack float64
	blocking                      bool
	msn                           uint64 // EXT-X-MEDIA-SEQUENCE
	segments                      int
	parts                         []llPartLine
	hint                          string
	text                          string
}

type llPartLine struct {
	uri         string
	dur         float64
	independent bool
	segment     int     // index of the parent segment: segments before it
	extinf      float64 // the parent's EXTINF, 0 for the open segment
}

func parseLL(t *testing.T, text string) *llPlaylist {
	t.Helper()
	p := &llPlaylist{text: text}
	var pending []llPartLine
	for _, line := range strings.Split(text, "\n") {
		a := tagAttrs(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-VERSION:"):
			p.version, _ = strconv.ParseFloat(line[len("#EXT-X-VERSION:"):], 64)
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			p.msn, _ = strconv.ParseUint(line[len("#EXT-X-MEDIA-SEQUENCE:"):], 10, 64)
		case strings.HasPrefix(line, "#EXT-X-SERVER-CONTROL:"):
			p.blocking = a["CAN-BLOCK-RELOAD"] == "YES"
			p.holdBack, _ = strconv.ParseFloat(a["PART-HOLD-BACK"], 64)
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			p.partTarget, _ = strconv.ParseFloat(a["PART-TARGET"], 64)
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			dur, _ := strconv.ParseFloat(a["DURATION"], 64)
			pending = append(pending, llPartLine{uri: a["URI"], dur: dur, independent: a["INDEPENDENT"] == "YES", segment: p.segments})
		case strings.HasPrefix(line, "#EXTINF:"):
			d, _ := strconv.ParseFloat(strings.TrimSuffix(line[len("#EXTINF:"):], ","), 64)
			for i := range pending {
				pending[i].extinf = d
			}
			p.parts = append(p.parts, pending...)
			pending = nil
			p.segments++
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			if a["TYPE"] == "PART" {
				p.hint = a["URI"]
			}
		}
	}
	p.parts = append(p.parts, pending...)
	return p
}

func TestLLHLS(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	chromium := playerTools(t, "hlsjs-ll")
	d := startDaemon(t, `
stream ll { input udp://239.6.2.2:5000; segment_duration 1; segment_count 6; chunk_duration 200; }
stream locked { input udp://239.6.2.2:5000; drm aes128 keyserver=http://127.0.0.1:1/cas; }
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.6.2.2:5000", Video: "h264"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d.plays(t, ctx, "ll", 3)
	pl := d.base + "/ll/index.ll.m3u8"
	// The first request starts the part maker; parts of three segments
	// are listed some 2-3 s later.
	var code int
	var hdr http.Header
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, hdr, body = httpGet(t, pl)
		if code != 200 || strings.Count(string(body), "#EXT-X-PART:") >= 12 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 200 || hdr.Get("Content-Type") != "application/vnd.apple.mpegurl" || hdr.Get("Cache-Control") != "no-cache" {
		t.Fatalf("LL-HLS playlist: %d %v\n%s", code, hdr, body)
	}
	p := parseLL(t, string(body))
	// RFC 8216bis: EXT-X-PART-INF with PART-TARGET; every part at most
	// PART-TARGET long; PART-HOLD-BACK at least twice PART-TARGET;
	// blocking reload offered; a preload hint for the part to come.
	if p.version < 6 || p.partTarget != 0.2 || !p.blocking || p.holdBack < 2*p.partTarget || p.hint == "" {
		t.Fatalf("LL-HLS header: version %v, PART-TARGET %v, blocking %v, PART-HOLD-BACK %v, hint %q\n%s",
			p.version, p.partTarget, p.blocking, p.holdBack, p.hint, body)
	}
	if len(p.parts) < 8 {
		t.Fatalf("only %d parts listed:\n%s", len(p.parts), body)
	}
	sums := map[int]float64{}
	for i, part := range p.parts {
		if part.dur <= 0 || part.dur > p.partTarget {
			t.Errorf("part %s lasts %v s, PART-TARGET is %v", part.uri, part.dur, p.partTarget)
		}
		if first := i == 0 || p.parts[i-1].segment != part.segment; first && !part.independent {
			t.Errorf("part %s opens its segment but is not INDEPENDENT=YES", part.uri)
		}
		if part.uri == p.hint {
			t.Errorf("the preload hint %s is already a listed part", p.hint)
		}
		if part.extinf > 0 {
			sums[part.segment] += part.dur
		}
		code, hdr, b := httpGet(t, d.base+"/ll/"+part.uri)
		if code != 200 || hdr.Get("Content-Type") != "video/mp4" || len(b) < 8 || string(b[4:8]) != "moof" {
			t.Fatalf("part %s: %d %s, %d bytes", part.uri, code, hdr.Get("Content-Type"), len(b))
		}
		// Video and audio: a track fragment each (audio, muxed ahead of
		// the video, goes in the part it is presented in).
		if n := strings.Count(string(b[:min(len(b), 4096)]), "traf"); n != 2 {
			t.Errorf("part %s has %d track fragments, want 2 (video and audio)", part.uri, n)
		}
	}
	// A whole segment's parts add up to its EXTINF (to a frame).
	for _, part := range p.parts {
		if s, ok := sums[part.segment]; ok && part.extinf > 0 && (s < part.extinf-0.041 || s > part.extinf+0.041) {
			t.Errorf("segment %d: parts add up to %.3f s, EXTINF %.3f", part.segment, s, part.extinf)
			delete(sums, part.segment)
		}
	}

	// Blocking reload: asking for the hinted part is answered once it
	// exists, with a playlist that lists it, within about one part
	// duration (the part was due within one); the hinted part itself is
	// held, then served.
	m := regexp.MustCompile(`^ll/(\d+)\.(\d+)\.m4s$`).FindStringSubmatch(p.hint)
	if m == nil {
		t.Fatalf("preload hint %q", p.hint)
	}
	var waits []time.Duration
	for range 10 {
		_, _, b := httpGet(t, pl)
		q := parseLL(t, string(b))
		m := regexp.MustCompile(`^ll/(\d+)\.(\d+)\.m4s$`).FindStringSubmatch(q.hint)
		if m == nil {
			t.Fatalf("preload hint %q", q.hint)
		}
		start := time.Now()
		code, _, b = httpGet(t, pl+"?_HLS_msn="+m[1]+"&_HLS_part="+m[2])
		waits = append(waits, time.Since(start))
		if code != 200 {
			t.Fatalf("blocking reload for %s: %d %s", q.hint, code, b)
		}
		// The part asked for, or its whole segment, is in the answer.
		if r := parseLL(t, string(b)); !strings.Contains(r.text, `URI="`+q.hint+`"`) && r.msn+uint64(r.segments) <= mustUint(t, m[1]) {
			t.Fatalf("blocking reload for %s answered without it:\n%s", q.hint, b)
		}
		start = time.Now()
		_, _, b = httpGet(t, pl)
		if h := parseLL(t, string(b)).hint; h != "" {
			code, _, part := httpGet(t, d.base+"/ll/"+h)
			if code != 200 || len(part) < 8 || string(part[4:8]) != "moof" {
				t.Fatalf("the hinted part %s: %d, %d bytes", h, code, len(part))
			}
		}
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	t.Logf("blocking reloads answered after %v (sorted; part target 200 ms)", waits)
	if med := waits[len(waits)/2]; med > 200*time.Millisecond+150*time.Millisecond {
		t.Errorf("median blocking reload took %v: more than a part duration (200 ms), the maker's 50 ms tick and the audio that follows the video in the mux", med)
	}
	for _, q := range []string{"?_HLS_msn=" + strconv.FormatUint(p.msn+1000, 10), "?_HLS_part=1", "?_HLS_msn=x"} {
		if code, _, _ := httpGet(t, pl+q); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	if code, _, _ := httpGet(t, d.base+"/ll/ll/1.0.m4s"); code != 404 {
		t.Errorf("an unknown part: %d, want 404", code)
	}
	if code, _, _ := httpGet(t, d.base+"/locked/index.ll.m3u8"); code != 403 {
		t.Errorf("a drm stream's LL-HLS playlist: %d, want 403", code)
	}
	if got := probeCodecs(t, ctx, pl); got != "aac,h264" {
		t.Errorf("ffprobe reads %s in the LL-HLS playlist, want aac,h264", got)
	}

	// hls.js in low-latency mode: 20 s without a stall; how far behind
	// live it settles is reported.
	page := startPlayerServer(t)
	st := checkHLSPlaysFor(t, chromium, page, pl, playFor, true)
	t.Logf("hls.js low-latency: %v", st)
}

func mustUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
