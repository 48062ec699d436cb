package hls

import (
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/pipeline"
)

const (
	liveWriteTimeout = 30 * time.Second
	liveIdleWake     = 5 * time.Second
)

var liveHeader = []byte("HTTP/1.1 200 OK\r\n" +
	"Server: slabcast\r\n" +
	"Content-Type: video/mp2t\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Connection: close\r\n\r\n")

// serveLive answers /NAME/mpegts: an endless TS from the start of the
// segment being written (PAT, PMT, keyframe), then every byte as it is
// committed. The connection is taken over from fasthttp so the bytes go from
// slab memory to the socket without a copy or chunked framing, the way udpxy
// and Flussonic send HTTP MPEG-TS (Connection: close marks the end).
func (s *Server) serveLive(ctx *fasthttp.RequestCtx, st *pipeline.Stream) {
	if !waitReady(ctx, st) {
		return
	}
	if ctx.IsHead() {
		ctx.SetContentType(ctTS)
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		s.liveConns.Add(1)
		defer s.liveConns.Add(-1)
		c.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := c.Write(liveHeader); err != nil {
			return
		}
		s.follow(c, st)
	})
}

// follow copies the stream to c until the client goes or the stream is
// removed. A client slower than the ring loses its place: the segment it was
// in gets reused, WriteRange says so, and it continues from the live edge,
// which starts clean with PAT, PMT and a keyframe.
func (s *Server) follow(c net.Conn, st *pipeline.Stream) {
	wake, cancel := st.Subscribe()
	defer cancel()
	idle := time.NewTimer(liveIdleWake)
	defer idle.Stop()
	seg := st.Live()
	var off int64
	for {
		if seg != nil {
			if size := seg.Size(); off < size {
				c.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
				n, err := seg.WriteRange(c, off, size)
				off += n
				if errors.Is(err, pipeline.ErrOverwritten) {
					s.liveMiss.Add(1)
					seg, off = st.Live(), 0
					continue
				}
				if err != nil {
					return
				}
				continue
			}
			if seg.Done() {
				if off < seg.Size() {
					continue
				}
				if nx := seg.Next(); nx != nil {
					seg, off = nx, 0
					continue
				}
			}
		} else if seg = st.Live(); seg != nil {
			continue
		}
		idle.Reset(liveIdleWake)
		select {
		case <-wake:
		case <-idle.C:
		case <-st.Stopped():
			return
		}
	}
}
