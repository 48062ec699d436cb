package hls

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/internal/logcap"
	"github.com/slabcast/slabcast/pipeline"
)

// servePublish takes PUT or POST /NAME/mpegts: a publisher sending MPEG-TS
// (chunked, or with a length) to a live stream, as `curl -T -` or
// `ffmpeg -method PUT` do. The body is the stream for as long as it lasts;
// each read must bring something within the stream's source_timeout.
// Answers: 404 (no such stream), 403 (not live, or a wrong password: the
// token is ?password=), 409 (another publisher is active), else 200 when
// the publisher ends.
func (s *Server) servePublish(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if len(path) <= len(suffixMPEGTS)+1 {
		notFound(ctx)
		return
	}
	name := path[1 : len(path)-len(suffixMPEGTS)]
	if !config.ValidName(name) {
		notFound(ctx)
		return
	}
	st := s.streams.Lookup(string(name))
	if st == nil {
		pipeline.CountRefused("http", "no_stream")
		notFound(ctx)
		return
	}
	peer := hostOf(ctx.RemoteAddr().String())
	token := ctx.QueryArgs().Peek("password")
	if len(token) == 0 {
		token = ctx.QueryArgs().Peek("token") // on_publish backends are given a token
	}
	pub, err := st.Publish(string(token), peer, "http")
	if err != nil {
		pipeline.CountRefused("http", pipeline.RefusalReason(err))
	}
	switch {
	case errors.Is(err, pipeline.ErrNotLive):
		fail(ctx, fasthttp.StatusForbidden, "not a live stream: nothing can be published to it\n")
		return
	case errors.Is(err, pipeline.ErrPassword):
		s.limited.Logf("publish password "+peer, "http: publishes refused for a wrong password, from "+peer,
			"http: publish to %s from %s refused: wrong password", st.Name(), peer)
		fail(ctx, fasthttp.StatusForbidden, "wrong password\n")
		return
	case errors.Is(err, pipeline.ErrDenied):
		s.limited.Logf("publish denied "+peer, "http: publishes the on_publish backend denied, from "+peer,
			"http: publish to %s from %s refused: %s", st.Name(), peer, logcap.Text(err.Error(), 200))
		fail(ctx, fasthttp.StatusForbidden, "publishing denied\n")
		return
	case errors.Is(err, pipeline.ErrBusy):
		s.limited.Logf("publish busy "+peer, "http: publishes refused while another was active, from "+peer,
			"http: publish to %s from %s refused: another publisher is active", st.Name(), peer)
		fail(ctx, fasthttp.StatusConflict, "another publisher is active\n")
		return
	case err != nil:
		fail(ctx, fasthttp.StatusServiceUnavailable, "cannot publish now\n")
		return
	}
	defer pub.Close()
	why := "eof"
	defer func() { pipeline.CountEnded("http", why) }()
	body := ctx.RequestBodyStream()
	stall := st.Config().SourceTimeout
	buf := make([]byte, 32<<10)
	var total int64
	for {
		// The read deadline fasthttp set covers the request head; a
		// publisher's body may last for days as long as it keeps coming.
		ctx.Conn().SetReadDeadline(time.Now().Add(stall))
		n, rerr := body.Read(buf)
		if n > 0 {
			total += int64(n)
			if _, werr := pub.Write(buf[:n]); werr != nil {
				why = "stopped" // the stream went away
				break
			}
		}
		if rerr != nil {
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				why = "stalled"
			} else if !errors.Is(rerr, io.EOF) {
				why = "error"
			}
			break
		}
	}
	ctx.SetConnectionClose()
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fmt.Sprintf("published %d bytes\n", total))
}
