package hls

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkPlaylistHandler is the handler's own cost for a playlist request
// (routing, headers, counters), fasthttp's parsing and writing left out.
func BenchmarkPlaylistHandler(b *testing.B) {
	fx := newFixture(b, time.Second, 6, nil)
	fx.send(b)
	fx.waitSegments(b, 3)
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.SetRequestURI("/ch/index.m3u8")
		fx.srv.Handle(&ctx)
	}
	if ctx.Response.StatusCode() != 200 {
		b.Fatal(ctx.Response.StatusCode())
	}
}
