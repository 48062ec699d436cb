//go:build linux

package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// fMP4 HLS (issue "Just-in-time packaging", its first output): the same
// live stream as index.fmp4.m3u8, its segments packaged from the TS in the
// slabs. ffprobe reads H.264 and AAC in it, ffmpeg decodes 20 s of it
// with -xerror, hls.js plays it in Chromium for 20 s without a stall; the
// segments are immutable and come back byte for byte; a drm stream
// refuses it.
func TestFMP4HLS(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `
stream cmaf { input udp://239.6.1.1:5000; segment_duration 1; segment_count 6; }
stream locked { input udp://239.6.1.1:5000; drm aes128 keyserver=http://127.0.0.1:1/cas; }
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.6.1.1:5000", Video: "h264"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d.plays(t, ctx, "cmaf", 3)
	pl := d.base + "/cmaf/index.fmp4.m3u8"

	get := func(u string) (int, string, []byte) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type") + "|" + resp.Header.Get("Cache-Control"), b
	}
	code, hdr, body := get(pl)
	text := string(body)
	if code != 200 || !strings.HasPrefix(hdr, "application/vnd.apple.mpegurl|no-cache") || !strings.Contains(text, "#EXT-X-VERSION:7\n") ||
		!strings.Contains(text, `#EXT-X-MAP:URI="`) || !strings.Contains(text, ".m4s\n") || strings.Contains(text, ".ts\n") {
		t.Fatalf("fMP4 playlist: %d %s\n%s", code, hdr, text)
	}
	// Each URI it names is an immutable MP4 that comes back the same.
	var uris []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasSuffix(line, ".m4s") {
			uris = append(uris, line)
		}
		if i := strings.Index(line, `URI="`); i >= 0 {
			uris = append(uris, strings.TrimSuffix(line[i+5:], `"`))
		}
	}
	for _, u := range uris {
		code, hdr, a := get(d.base + "/cmaf/" + u)
		_, _, b := get(d.base + "/cmaf/" + u)
		if code != 200 || !strings.HasPrefix(hdr, "video/mp4|public, max-age=31536000, immutable") || len(a) < 8 || string(a) != string(b) {
			t.Fatalf("%s: %d %s, %d bytes, the same twice: %v", u, code, hdr, len(a), string(a) == string(b))
		}
		if box := string(a[4:8]); box != "ftyp" && box != "moof" {
			t.Fatalf("%s starts with box %q", u, box)
		}
	}
	streams, err := hlstest.Probe(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	var codecs []string
	for _, s := range streams {
		codecs = append(codecs, s.CodecName)
	}
	if strings.Join(codecs, ",") != "h264,aac" {
		t.Errorf("ffprobe reads %v in the fMP4 playlist, want h264,aac", codecs)
	}
	if err := hlstest.Decode(ctx, pl, playFor.Seconds()); err != nil {
		t.Errorf("ffmpeg -xerror: %v", err)
	}
	// hls.js plays it for 20 s without a stall.
	chromium := playerTools(t, "hlsjs")
	st := checkHLSPlaysFor(t, chromium, startPlayerServer(t), pl, playFor, false)
	t.Logf("hls.js: %v", st)

	// A drm stream has no cleartext fMP4 form.
	if code, _, _ := get(d.base + "/locked/index.fmp4.m3u8"); code != 403 {
		t.Errorf("a drm stream's fMP4 playlist: %d, want 403", code)
	}
	if code, _, _ := get(d.base + "/cmaf/2026/01/01/00/00/00.000-01000.m4s"); code != 404 {
		t.Errorf("an unknown fMP4 segment: %d, want 404", code)
	}
}
