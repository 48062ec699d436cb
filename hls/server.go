// Package hls serves what the pipeline publishes over one fasthttp listener:
// HLS playlists, segments straight from slab memory, endless HTTP MPEG-TS
// from the live edge, and Prometheus metrics. URLs are in docs/SPEC.md §4.
//
// Handlers only read pipeline state (atomics and immutable snapshots), so a
// slow or misbehaving client costs its own connection and nothing else.
package hls

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/hls/m3u8"
	"github.com/slabcast/slabcast/pipeline"
)

// Streams is what the server needs of the pipeline.
type Streams interface {
	Lookup(name string) *pipeline.Stream
	Streams() []*pipeline.Stream
	Pool() *pipeline.Pool
}

// Server answers HTTP requests for the streams of a pipeline.
type Server struct {
	streams Streams
	logf    func(string, ...any)
	srv     *fasthttp.Server

	codes     [600]atomic.Uint64 // requests answered, by status code
	liveMiss  atomic.Uint64      // /mpegts readers that fell behind the ring and jumped to the live edge
	liveConns atomic.Int64
}

// New makes a server for streams. logf receives connection-level errors.
func New(streams Streams, logf func(string, ...any)) *Server {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Server{streams: streams, logf: logf}
	s.srv = &fasthttp.Server{
		Handler:                       s.Handle,
		Name:                          "slabcast",
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  60 * time.Second,
		IdleTimeout:                   60 * time.Second,
		MaxRequestBodySize:            4096,
		DisableHeaderNamesNormalizing: false,
		NoDefaultDate:                 false,
		Logger:                        logger{logf},
		CloseOnShutdown:               true,
	}
	return s
}

type logger struct{ logf func(string, ...any) }

func (l logger) Printf(format string, args ...any) { l.logf("http: "+format, args...) }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting, closes idle connections and waits for requests
// in flight, at most until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }

// Header names and values as bytes, canonical already: setting them skips
// fasthttp's normalisation, a fifth of a playlist request's handling.
var (
	hdrACAO         = []byte("Access-Control-Allow-Origin")
	hdrCacheControl = []byte("Cache-Control")
	valStar         = []byte("*")
	valNoCache      = []byte("no-cache")
	valImmutable    = []byte("public, max-age=31536000, immutable")
)

var (
	pathMetrics  = []byte("/metrics")
	nameIndex    = []byte("index.m3u8")
	nameMPEGTS   = []byte("mpegts")
	suffixTS     = []byte(".ts")
	ctPlaylist   = "application/vnd.apple.mpegurl"
	ctTS         = "video/mp2t"
	errBadStream = errors.New("hls: bad stream name")
)

// Handle is the fasthttp handler: routing by path, then the request counter.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrACAO, valStar)
	switch {
	case ctx.IsGet() || ctx.IsHead():
		s.route(ctx)
	case ctx.IsOptions():
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Access-Control-Max-Age", "86400")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed\n")
	}
	if c := ctx.Response.StatusCode(); c >= 100 && c < len(s.codes) {
		s.codes[c].Add(1)
	}
}

func (s *Server) route(ctx *fasthttp.RequestCtx) {
	path := ctx.Path() // normalised by fasthttp: no "..", no "//"
	if bytes.Equal(path, pathMetrics) {
		s.serveMetrics(ctx)
		return
	}
	if len(path) < 2 || path[0] != '/' {
		notFound(ctx)
		return
	}
	name, rest, ok := splitPath(path[1:])
	if !ok || !config.ValidName(name) {
		notFound(ctx)
		return
	}
	st := s.streams.Lookup(string(name))
	if st == nil {
		notFound(ctx)
		return
	}
	// Every request keeps an ondemand stream alive, or wakes it.
	st.Touch()
	if a, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok && !bytes.Equal(rest, nameMPEGTS) {
		st.Seen(a.Unmap()) // /mpegts clients are counted while connected instead
	}
	switch {
	case bytes.Equal(rest, nameIndex):
		s.servePlaylist(ctx, st)
	case bytes.Equal(rest, nameMPEGTS):
		s.serveLive(ctx, st)
	case bytes.HasSuffix(rest, suffixTS):
		s.serveSegment(ctx, st, rest)
	default:
		notFound(ctx)
	}
}

// segmentDepth is how many path elements a segment name has below its
// stream: 2026/11/26/08/06/37.250-02000.ts.
const segmentDepth = 6

// splitPath splits a request path, less its leading '/', into the stream
// name and what is asked of it. Stream names may have '/' in them
// (news/hd), so the split is by what follows: the playlist and /mpegts are
// the last element, a segment the last segmentDepth.
func splitPath(p []byte) (name, rest []byte, ok bool) {
	cut := len(p)
	n := 1
	if bytes.HasSuffix(p, suffixTS) {
		n = segmentDepth
	}
	for ; n > 0; n-- {
		cut = bytes.LastIndexByte(p[:cut], '/')
		if cut < 0 {
			return nil, nil, false
		}
	}
	return p[:cut], p[cut+1:], true
}

func notFound(ctx *fasthttp.RequestCtx) {
	fail(ctx, fasthttp.StatusNotFound, "not found\n")
}

// fail answers an error with a short text body. Unlike ctx.Error it keeps
// the headers already set (CORS, Retry-After).
func fail(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(code)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	ctx.SetBodyString(msg)
}

// waitReady holds a request for a stream that has no segment yet, at most
// 3 × segment_duration + 5 s (docs/SPEC.md §4). It answers 503 (or 404 if the
// stream goes away) and returns false when the wait fails.
func waitReady(ctx *fasthttp.RequestCtx, st *pipeline.Stream) bool {
	if st.Timeline() != nil {
		return true
	}
	limit := 3*st.Config().SegmentDuration + 5*time.Second
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		// An ondemand stream that stops and starts again gets a new ready
		// channel, and a playlist only once its new first segment exists.
		select {
		case <-st.Ready():
			if st.Timeline() != nil {
				return true
			}
			select {
			case <-t.C:
			case <-time.After(10 * time.Millisecond):
				continue
			}
		case <-st.Stopped():
			notFound(ctx)
			return false
		case <-t.C:
		}
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(st.Config().SegmentDuration/time.Second)+1))
		fail(ctx, fasthttp.StatusServiceUnavailable, "stream not ready: no segment yet\n")
		return false
	}
}

func (s *Server) servePlaylist(ctx *fasthttp.RequestCtx, st *pipeline.Stream) {
	if !waitReady(ctx, st) {
		return
	}
	ctx.SetContentType(ctPlaylist)
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	tl := st.Timeline()
	if tl == nil { // stopped again between the wait and now
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusServiceUnavailable, "stream not ready: no segment yet\n")
		return
	}
	// Rendered once per timeline; the slice is immutable, so fasthttp may
	// send it without a copy.
	ctx.Response.SetBodyRaw(tl.Memo(memoMediaPlaylist, mediaPlaylist))
}

// Memo slots of a pipeline.Timeline: one per format rendered from it.
const (
	memoMediaPlaylist = iota
)

// mediaPlaylist renders the HLS media playlist of a timeline.
func mediaPlaylist(tl *pipeline.Timeline) []byte {
	listed := tl.Listed()
	m := m3u8.Media{Target: tl.Target, MediaSequence: tl.MediaSequence, DiscontinuitySequence: tl.DiscontinuitySequence,
		Segments: make([]m3u8.Segment, len(listed))}
	for i, g := range listed {
		m.Segments[i] = m3u8.Segment{Start: g.Start, Duration: g.Duration, Discontinuity: g.Discontinuity}
	}
	return m3u8.AppendMedia(make([]byte, 0, 160+len(listed)*120), &m)
}

func (s *Server) serveSegment(ctx *fasthttp.RequestCtx, st *pipeline.Stream, name []byte) {
	var seg *pipeline.Segment
	if start, d, ok := m3u8.ParseSegmentName(name); ok {
		if tl := st.Timeline(); tl != nil {
			seg = tl.Find(start, d)
		}
	}
	if seg == nil {
		notFound(ctx)
		return
	}
	ctx.SetContentType(ctTS)
	// A segment URL maps to the same bytes forever (docs/SPEC.md §4).
	ctx.Response.Header.SetCanonical(hdrCacheControl, valImmutable)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(int(seg.Size()))
		ctx.Response.SkipBody = true
		return
	}
	ctx.Response.SetBodyStream(seg.Reader(), int(seg.Size()))
}
