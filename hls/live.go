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
	liveBuffer       = 64 << 10
)

var liveHeader = []byte("HTTP/1.1 200 OK\r\n" +
	"Server: slabcast\r\n" +
	"Content-Type: video/mp2t\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Connection: close\r\n\r\n")

// serveLive answers /NAME/mpegts: an endless TS from the start of the
// segment being written (PAT, PMT, keyframe), then every byte as it is
// committed. The connection is taken over from fasthttp so the bytes go out
// without chunked framing, the way udpxy and Flussonic send HTTP MPEG-TS
// (Connection: close marks the end).
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
// removed. Bytes go through a small per-connection buffer: CopyAt verifies
// them after copying, so a client slower than the ring never receives bytes
// of reused memory (which may by then belong to another channel). It loses
// its place instead and continues from the live edge, which starts clean
// with PAT, PMT and a keyframe. The copy costs far less than the socket
// write it feeds; segments, fetched by many more clients, are sent without
// one.
func (s *Server) follow(c net.Conn, st *pipeline.Stream) {
	wake, cancel := st.Subscribe()
	defer st.Touch() // clients_timeout counts from the end of the connection
	defer cancel()
	idle := time.NewTimer(liveIdleWake)
	defer idle.Stop()
	buf := make([]byte, liveBuffer)
	seg := st.Live()
	var off int64
	for {
		if seg != nil {
			if size := seg.Size(); off < size {
				n, err := seg.CopyAt(buf, off)
				if errors.Is(err, pipeline.ErrOverwritten) {
					s.liveMiss.Add(1)
					next := st.Live()
					if next == seg || next == nil || !next.Valid() || stopped(st) {
						return // nowhere clean to go on from
					}
					seg, off = next, 0
					continue
				}
				c.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
				off += int64(n)
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

func stopped(st *pipeline.Stream) bool {
	select {
	case <-st.Stopped():
		return true
	default:
		return false
	}
}
