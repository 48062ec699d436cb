package hls

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/pipeline"
)

const (
	liveIdleWake = 5 * time.Second
	liveBuffer   = 64 << 10
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
	if st = s.waitReady(ctx, st); st == nil {
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
	tc, _ := ctx.Conn().(*trackedConn)
	ctx.Hijack(func(c net.Conn) {
		s.liveConns.Add(1)
		defer s.liveConns.Add(-1)
		// A bounded send buffer: a reader that stops reading holds at most
		// this much kernel memory, and its stall shows at the next write
		// instead of after megabytes of autotuned buffer.
		if tc != nil && s.limits.LiveSendBuffer > 0 {
			if t := tc.tcp(); t != nil {
				t.SetWriteBuffer(s.limits.LiveSendBuffer)
			}
		}
		err := s.write(c, liveHeader)
		if err == nil {
			err = s.follow(c, st)
		}
		s.liveEnded(tc, err)
	})
}

// write sends b to a live reader, which must take all of it within the
// stall timeout.
func (s *Server) write(c net.Conn, b []byte) error {
	if s.limits.StallTimeout > 0 {
		c.SetWriteDeadline(time.Now().Add(s.limits.StallTimeout))
	}
	_, err := c.Write(b)
	return err
}

// liveEnded notes why a live reader's connection ended (err; nil when the
// stream ended it): a client that went away, or one that took nothing for
// the stall timeout, which is logged.
func (s *Server) liveEnded(tc *trackedConn, err error) {
	if tc == nil || err == nil {
		return
	}
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		tc.eof.Store(true)
		return
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	tc.stalled.Store(true)
	peer := tc.ip.String()
	s.limited.Logf("stalled "+peer, "http: /mpegts readers closed for taking nothing, from "+peer,
		"http: /mpegts reader %s took nothing for %v: closed", peer, s.limits.StallTimeout)
}

// follow copies the stream to c until the client goes or the stream is
// removed. Bytes go through a small per-connection buffer: CopyAt verifies
// them after copying, so a client slower than the ring never receives bytes
// of reused memory (which may by then belong to another channel). It loses
// its place instead and continues from the live edge, which starts clean
// with PAT, PMT and a keyframe. The copy costs far less than the socket
// write it feeds; segments, fetched by many more clients, are sent without
// one.
// It returns the error that ended the connection, nil when the stream
// ended it.
func (s *Server) follow(c net.Conn, st *pipeline.Stream) error {
	wake, cancel := st.Subscribe()
	defer func() {
		cancel()
		st.Touch() // clients_timeout counts from the end of the connection
	}()
	idle := time.NewTimer(liveIdleWake)
	defer idle.Stop()
	buf := make([]byte, liveBuffer)
	seg := st.Live()
	var off int64
	// follow moves to the stream that replaced st (pipeline.Replace) and
	// goes on from its first segment's start (PAT, PMT, keyframe), as after
	// a source change; false when st was removed, or the new stream's terms
	// (drm, on_play) are not those this reader was admitted on.
	follow := func() bool {
		next, err := s.successor(st, time.Now().Add(5*time.Second))
		if err != nil {
			return false
		}
		cancel()
		st = next
		wake, cancel = st.Subscribe()
		seg, off = nil, 0
		return true
	}
	for {
		if seg != nil {
			if size := seg.Size(); off < size {
				n, err := seg.CopyAt(buf, off)
				if errors.Is(err, pipeline.ErrOverwritten) {
					s.liveMiss.Add(1)
					if stopped(st) {
						// Its slabs went back to the pool, perhaps to its
						// replacement: go on with that.
						if !follow() {
							return nil
						}
						continue
					}
					next := st.Live()
					if next == seg || next == nil || !next.Valid() {
						return nil // nowhere clean to go on from
					}
					seg, off = next, 0
					continue
				}
				if err := s.write(c, buf[:n]); err != nil {
					return err
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
			if seg != nil && off < seg.Size() {
				continue // what the stream committed before it stopped
			}
			if !follow() {
				return nil
			}
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
