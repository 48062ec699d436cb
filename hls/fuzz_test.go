package hls

import (
	"bytes"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/pipeline"
)

// FuzzHandle throws arbitrary request lines at the handler of a server with
// a live stream: nothing may panic, every answer is one of the documented
// codes, and a 200 carries what its URL promises.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		"/ch/index.m3u8", "/ch/mpegts", "/metrics", "/ch/2026/11/26/08/00/00.000-01000.ts",
		"/", "//", "/ch/../../etc/passwd", "/%2e%2e/ch/index.m3u8", "/ch/index.m3u8?x=%ff", "/c%00h/index.m3u8",
		"/ch/a.ts/", "/ch//index.m3u8", "http://host/ch/index.m3u8", "*",
		"/ch/index.fmp4.m3u8", "/ch/2026/11/26/08/00/00.000-01000.m4s", "/ch/2026/11/26/08/00/00.000-01000.init.mp4",
		"/ch/index.mpd", "/ch/Manifest.mpd", "/ch/dash/v256/p1-t1.m4s", "/ch/dash/v256/p1.init.mp4", "/ch/dash/a257/p-t1.m4s",
		"/ch/dash//p1-t1.m4s", "/ch/dash/v256/p18446744073709551615-t18446744073709551615.m4s", "/time",
		"/ch/index.ll.m3u8", "/ch/index.ll.m3u8?_HLS_msn=1&_HLS_part=0", "/ch/index.ll.m3u8?_HLS_part=-5",
		"/ch/index.ll.m3u8?_HLS_msn=99999999999999999999", "/ch/ll/1.0.m4s", "/ch/ll/1.init.mp4", "/ch/ll/.m4s", "/ch/ll/1.99999999999.m4s",
	} {
		f.Add("GET", seed)
	}
	f.Add("HEAD", "/ch/index.m3u8")
	f.Add("PUT", "/ch/index.m3u8")
	fx := newFixture(f, time.Second, 6, nil)
	fx.send(f)
	deadline := time.Now().Add(10 * time.Second)
	for fx.p.Lookup("ch").Stats().Count[pipeline.Segments] < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	f.Fuzz(func(t *testing.T, method, uri string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(uri)
		fx.srv.Handle(&ctx)
		code := ctx.Response.StatusCode()
		switch code {
		case 200:
			path := ctx.Path()
			switch {
			case bytes.HasSuffix(path, []byte(".m3u8")):
				if !ctx.IsHead() && !bytes.HasPrefix(ctx.Response.Body(), []byte("#EXTM3U\n")) {
					t.Fatalf("%s %q: 200 without a playlist", method, uri)
				}
			case bytes.HasSuffix(path, []byte(".mpd")):
				if !ctx.IsHead() && !bytes.HasPrefix(ctx.Response.Body(), []byte("<?xml")) {
					t.Fatalf("%s %q: 200 without an MPD", method, uri)
				}
			case bytes.HasSuffix(path, []byte(".m4s")), bytes.HasSuffix(path, []byte(".mp4")):
				if b := ctx.Response.Body(); !ctx.IsHead() && (len(b) < 8 || string(b[4:8]) != "moof" && string(b[4:8]) != "ftyp") {
					t.Fatalf("%s %q: 200 without an MP4 box", method, uri)
				}
			case bytes.Equal(path, []byte("/metrics")), bytes.Equal(path, []byte("/time")), bytes.HasSuffix(path, []byte("/mpegts")), bytes.HasSuffix(path, []byte(".ts")):
			default:
				t.Fatalf("%s %q: 200 for path %q", method, uri, path)
			}
		case 204, 400, 404, 405, 503:
		default:
			t.Fatalf("%s %q: status %d", method, uri, code)
		}
		if string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")) != "*" {
			t.Fatalf("%s %q: no CORS header", method, uri)
		}
	})
}
