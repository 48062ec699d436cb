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
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/hls/m3u8"
	"github.com/slabcast/slabcast/internal/logcap"
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
	limited *logcap.Limiter // lines about clients: one per peer and reason an interval
	limits  Limits
	conns   conns
	srv     *fasthttp.Server

	mounts  []mount // set before serving (Mount), read-only after
	play    *playAuth
	lls     llStreams   // LL-HLS part makers of the streams being played
	closing atomic.Bool // Shutdown has begun

	codes     [600]atomic.Uint64 // answers, by status code: the handler's, fasthttp's own and refusals
	liveMiss  atomic.Uint64      // /mpegts readers that fell behind the ring and jumped to the live edge
	liveConns atomic.Int64
}

// logInterval is how often lines about clients repeat at most: one per
// peer and reason, then a count.
const logInterval = 10 * time.Second

// New makes a server for streams, holding clients to lim. logf receives
// connection-level errors, at most one line per client address and reason
// every logInterval, each cut to a few hundred bytes.
func New(streams Streams, logf func(string, ...any), lim Limits) *Server {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if lim.ReadTimeout <= 0 {
		lim.ReadTimeout = DefaultLimits.ReadTimeout
	}
	if lim.IdleTimeout <= 0 {
		lim.IdleTimeout = DefaultLimits.IdleTimeout
	}
	s := &Server{streams: streams, logf: logf, limits: lim, play: newPlayAuth()}
	s.conns = conns{s: s, perIP: map[netip.Addr]int{}}
	s.limited = logcap.NewLimiter(logf, logInterval, 1024)
	s.srv = &fasthttp.Server{
		Handler:                       s.Handle,
		ErrorHandler:                  s.handleError,
		Name:                          "slabcast",
		ReadTimeout:                   lim.ReadTimeout,
		WriteTimeout:                  60 * time.Second,
		IdleTimeout:                   lim.IdleTimeout,
		MaxRequestBodySize:            maxBody,
		StreamRequestBody:             true, // a publisher's body is endless
		DisableHeaderNamesNormalizing: false,
		NoDefaultDate:                 false,
		Logger:                        logger{s},
		SecureErrorLogMessage:         true, // never echo a request into the log
		CloseOnShutdown:               true,
	}
	return s
}

// logger takes fasthttp's own lines. The error of a connection that
// handleError answered was counted and logged there already; the rest go
// through the limiter by client address, cut short.
type logger struct{ s *Server }

func (l logger) Printf(format string, args ...any) {
	peer := "-"
	if len(args) >= 2 {
		if a, ok := args[1].(net.Addr); ok {
			if _, dup := l.s.conns.answered.Load(a.String()); dup {
				return // "error when serving connection": handleError said it
			}
			peer = hostOf(a.String())
		}
	}
	msg := fmt.Sprintf(format, args...)
	key := format
	if len(key) > 40 {
		key = key[:40]
	}
	l.s.limited.Logf("fasthttp "+key+" "+peer, "http: lines like \""+logcap.Text(key, 40)+"\" from "+peer,
		"http: %s", logcap.Text(msg, 300))
}

// hostOf is the address part of host:port, or s.
func hostOf(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// handleError answers a request fasthttp could not read or parse, counts
// the answer with the handler's, and logs it bounded: the method, the
// path cut to 200 bytes, the peer and the reason, never the request's
// headers or body. A read that timed out (an idle client, a slowloris) is
// answered 408 and counted, not logged: browsers open connections they
// never use.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	code, msg := fasthttp.StatusBadRequest, "bad request\n"
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		code, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, "request header too large\n"
	case errors.As(err, &ne) && ne.Timeout():
		code, msg = fasthttp.StatusRequestTimeout, "request timeout\n"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, msg = fasthttp.StatusRequestEntityTooLarge, "request body too large\n"
	}
	fail(ctx, code, msg)
	s.codes[code].Add(1)
	if tc, ok := ctx.Conn().(*trackedConn); ok {
		tc.answered.Store(true)
		s.conns.answered.Store(tc.RemoteAddr().String(), struct{}{})
	}
	if code == fasthttp.StatusRequestTimeout {
		return
	}
	peer := hostOf(ctx.RemoteAddr().String())
	reason := err.Error()
	if i := strings.Index(reason, ": buffer size="); i > 0 {
		reason = reason[:i] // how much was buffered says nothing to an operator
	}
	what := ""
	if !strings.Contains(reason, "reading request headers") && code != fasthttp.StatusRequestHeaderFieldsTooLarge {
		// The request line and header were read: say what was asked.
		what = "; " + logcap.Text(string(ctx.Request.Header.Method()), 16) + " " + logcap.Text(string(ctx.Request.Header.RequestURI()), 200)
	}
	label := "http: " + strconv.Itoa(code) + " answers to " + peer
	s.limited.Logf(strconv.Itoa(code)+" "+peer, label, "http: %d to %s: %s%s", code, peer, logcap.Text(reason, 200), what)
}

// Serve accepts connections on ln until Shutdown, within the server's
// limits over all its listeners.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(listener{ln, &s.conns}) }

// Shutdown stops accepting, closes idle connections and waits for requests
// in flight, at most until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true) // readiness says so to requests still being answered
	err := s.srv.ShutdownWithContext(ctx)
	s.limited.Close()
	return err
}

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
	pathMetrics   = []byte("/metrics")
	pathTime      = []byte("/time")
	suffixMPEGTS  = []byte("/mpegts")
	nameIndex     = []byte("index.m3u8")
	nameMPEGTS    = []byte("mpegts")
	suffixTS      = []byte(".ts")
	nameFMP4Index = []byte("index.fmp4.m3u8")
	suffixM4S     = []byte(".m4s")
	suffixInit    = []byte(".init.mp4")
	prefixKey     = []byte("key/")
	suffixKey     = []byte(".key")
	ctPlaylist    = "application/vnd.apple.mpegurl"
	ctTS          = "video/mp2t"
	errBadStream  = errors.New("hls: bad stream name")
)

// maxBody is the largest request body taken, but for a publisher's.
const maxBody = 4096

// tooLarge reports whether a request announces a body over maxBody, or
// one of no stated length.
func tooLarge(h *fasthttp.RequestHeader) bool {
	n := h.ContentLength()
	return n > maxBody || n == -1
}

// Handle is the fasthttp handler: routing by path, then the request counter.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	if m := s.mounted(ctx.Path()); m != nil {
		m(ctx)
		s.count(ctx)
		return
	}
	h := &ctx.Response.Header
	h.SetCanonical(hdrACAO, valStar)
	publish := (ctx.IsPut() || ctx.IsPost()) && bytes.HasSuffix(ctx.Path(), suffixMPEGTS)
	switch {
	case !publish && tooLarge(&ctx.Request.Header):
		// Bodies are streamed (for publishers), so the limit every other
		// request keeps is checked here.
		fail(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large\n")
		ctx.SetConnectionClose()
	case publish:
		s.servePublish(ctx)
	case ctx.IsGet() || ctx.IsHead():
		s.route(ctx)
	case ctx.IsOptions():
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Access-Control-Max-Age", "86400")
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS, PUT, POST")
		fail(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed\n")
	}
	s.count(ctx)
}

// count counts the answer to ctx by its status code.
func (s *Server) count(ctx *fasthttp.RequestCtx) {
	if c := ctx.Response.StatusCode(); c >= 100 && c < len(s.codes) {
		s.codes[c].Add(1)
	}
}

// mount is a handler for the paths under a prefix.
type mount struct {
	prefix []byte // ends in '/'
	h      fasthttp.RequestHandler
}

// Mount has h answer every request, whatever its method, for prefix (which
// ends in '/'), the paths under it, and prefix without its slash: the HTTP
// API at /streamer/api/v3/ and the console at /admin/. Mounted paths come
// before the streams' own (a stream called admin has its playlist shadowed),
// and h sets every header of its answers; it must read a request body
// itself, with its own limit (the streams' routes take none). Call Mount
// before serving.
func (s *Server) Mount(prefix string, h fasthttp.RequestHandler) {
	if !strings.HasSuffix(prefix, "/") || !strings.HasPrefix(prefix, "/") {
		panic("hls: Mount prefix " + strconv.Quote(prefix) + " must start and end with /")
	}
	s.mounts = append(s.mounts, mount{prefix: []byte(prefix), h: h})
}

// mounted returns the handler mounted for path, or nil.
func (s *Server) mounted(path []byte) fasthttp.RequestHandler {
	for _, m := range s.mounts {
		if bytes.HasPrefix(path, m.prefix) || bytes.Equal(path, m.prefix[:len(m.prefix)-1]) {
			return m.h
		}
	}
	return nil
}

func (s *Server) route(ctx *fasthttp.RequestCtx) {
	path := ctx.Path() // normalised by fasthttp: no "..", no "//"
	if bytes.Equal(path, pathMetrics) {
		s.serveMetrics(ctx)
		return
	}
	if bytes.Equal(path, pathTime) {
		serveTime(ctx)
		return
	}
	if bytes.Equal(path, pathLiveness) {
		s.serveLiveness(ctx)
		return
	}
	if bytes.Equal(path, pathReadiness) {
		s.serveReadiness(ctx)
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
	proto := "hls"
	if bytes.Equal(rest, nameMPEGTS) {
		proto = "mpegts"
	}
	if !s.allow(ctx, st, proto) {
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
	case bytes.Equal(rest, nameFMP4Index):
		s.serveFMP4Playlist(ctx, st)
	case bytes.Equal(rest, nameLLIndex):
		s.serveLLPlaylist(ctx, st)
	case bytes.HasPrefix(rest, prefixLL):
		s.serveLL(ctx, st, rest)
	case bytes.Equal(rest, nameMPD) || bytes.Equal(rest, nameManifestMPD):
		s.serveMPD(ctx, st)
	case bytes.HasPrefix(rest, prefixDASH):
		s.serveDASH(ctx, st, rest)
	case bytes.HasSuffix(rest, suffixInit):
		s.serveFMP4(ctx, st, rest, suffixInit, packInit)
	case bytes.HasSuffix(rest, suffixM4S):
		s.serveFMP4(ctx, st, rest, suffixM4S, packMedia)
	case bytes.Equal(rest, nameMPEGTS):
		if _, drm := st.DRM(); drm {
			// Never cleartext: a drm stream is served only encrypted.
			fail(ctx, fasthttp.StatusForbidden, "this stream is encrypted (drm): play its HLS playlist\n")
			return
		}
		s.serveLive(ctx, st)
	case bytes.HasSuffix(rest, suffixTS):
		s.serveSegment(ctx, st, rest)
	case bytes.HasPrefix(rest, prefixKey) && bytes.HasSuffix(rest, suffixKey):
		s.serveKey(ctx, st, rest[len(prefixKey):len(rest)-len(suffixKey)])
	default:
		notFound(ctx)
	}
}

// segmentDepth is how many path elements a segment name has below its
// stream: 2026/11/26/08/06/37.250-02000-123456789.ts.
const segmentDepth = 6

// splitPath splits a request path, less its leading '/', into the stream
// name and what is asked of it. Stream names may have '/' in them
// (news/hd), so the split is by what follows: the playlist and /mpegts are
// the last element, a segment the last segmentDepth.
func splitPath(p []byte) (name, rest []byte, ok bool) {
	cut := len(p)
	n := 1
	switch {
	case (bytes.HasSuffix(p, suffixM4S) || bytes.HasSuffix(p, suffixInit)) && elementAt(p, 3, prefixDASH[:4]):
		n = 3 // dash/REP/N.m4s
	case (bytes.HasSuffix(p, suffixM4S) || bytes.HasSuffix(p, suffixInit)) && elementAt(p, 2, prefixLL[:2]):
		n = 2 // ll/MSN.K.m4s
	case bytes.HasSuffix(p, suffixTS) || bytes.HasSuffix(p, suffixM4S) || bytes.HasSuffix(p, suffixInit):
		n = segmentDepth
	case bytes.HasSuffix(p, suffixKey):
		n = 2 // key/N.key
	}
	for ; n > 0; n-- {
		cut = bytes.LastIndexByte(p[:cut], '/')
		if cut < 0 {
			return nil, nil, false
		}
	}
	return p[:cut], p[cut+1:], true
}

// elementAt reports whether the path element depth elements from the end of
// p (1: the last) is elem.
func elementAt(p []byte, depth int, elem []byte) bool {
	end := len(p)
	for ; depth > 1; depth-- {
		end = bytes.LastIndexByte(p[:end], '/')
		if end < 0 {
			return false
		}
	}
	start := bytes.LastIndexByte(p[:end], '/') + 1
	return bytes.Equal(p[start:end], elem)
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
// 3 × segment_duration + 5 s (docs/SPEC.md §4), and returns the stream to
// serve: st, or the stream that took its place meanwhile (a changed stream
// starts afresh, pipeline.Replace). It answers 503 (or 404 if the stream
// goes away) and returns nil when the wait fails.
func (s *Server) waitReady(ctx *fasthttp.RequestCtx, st *pipeline.Stream) *pipeline.Stream {
	if st.Timeline() != nil {
		return st
	}
	limit := 3*st.Config().SegmentDuration + 5*time.Second
	deadline := time.Now().Add(limit)
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		// An ondemand stream that stops and starts again gets a new ready
		// channel, and a playlist only once its new first segment exists.
		select {
		case <-st.Ready():
			if st.Timeline() != nil {
				return st
			}
			select {
			case <-t.C:
			case <-time.After(10 * time.Millisecond):
				continue
			}
		case <-st.Stopped():
			next, err := s.successor(st, deadline)
			switch {
			case err == nil:
				st = next
				continue
			case errors.Is(err, errStreamGone):
				notFound(ctx)
				return nil
			case errors.Is(err, errStreamTerms):
				ctx.Response.Header.Set("Retry-After", "1")
				fail(ctx, fasthttp.StatusServiceUnavailable, "stream changed: ask again\n")
				return nil
			}
		case <-t.C:
		}
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(st.Config().SegmentDuration/time.Second)+1))
		fail(ctx, fasthttp.StatusServiceUnavailable, "stream not ready: no segment yet\n")
		return nil
	}
}

var (
	errStreamGone  = errors.New("stream removed")
	errStreamTerms = errors.New("stream changed its drm or on_play")
	errStreamLate  = errors.New("stream not replaced in time")
)

// successor returns the stream that took the place of st, which stopped
// (pipeline.Replace), waiting until deadline while the replacement is in
// progress: the old stream stays in the map, stopped, until the new one is
// on its worker. A client admitted to st goes on with it only on the same
// terms, the same on_play backend and the same drm (none, or the same
// settings); else errStreamTerms, and the client is checked afresh when
// it asks again. errStreamGone: st was removed. The successor is touched,
// so an ondemand one starts for the client.
func (s *Server) successor(st *pipeline.Stream, deadline time.Time) (*pipeline.Stream, error) {
	for {
		next := s.streams.Lookup(st.Name())
		switch {
		case next == nil:
			return nil, errStreamGone
		case next != st:
			da, ea := st.DRM()
			db, eb := next.DRM()
			if st.OnPlay() != next.OnPlay() || ea != eb || da != db {
				return nil, errStreamTerms
			}
			next.Touch()
			return next, nil
		case !time.Now().Before(deadline):
			return nil, errStreamLate
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) servePlaylist(ctx *fasthttp.RequestCtx, st *pipeline.Stream) {
	if st = s.waitReady(ctx, st); st == nil {
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
	drm, encrypted := st.DRM()
	token := ctx.QueryArgs().Peek("token")
	switch {
	case len(token) > 0:
		// The token goes on every URI: rendered for this request.
		ctx.Response.SetBodyRaw(renderPlaylist(tl, st.Name(), drm, encrypted, "token="+url.QueryEscape(string(token))))
	case encrypted:
		// A timeline is one stream's, so the slot holds its drm form.
		serveMemo(ctx, tl, memoMediaPlaylist, memoMediaETag, func(tl *pipeline.Timeline) []byte {
			return renderPlaylist(tl, st.Name(), drm, true, "")
		})
	default:
		serveMemo(ctx, tl, memoMediaPlaylist, memoMediaETag, mediaPlaylist)
	}
}

var (
	hdrETag        = []byte("ETag")
	hdrIfNoneMatch = []byte("If-None-Match")
)

// serveMemo answers with what render makes of tl, rendered once per
// timeline (the slice is immutable, so fasthttp may send it without a
// copy), and its ETag, made once too; a request whose If-None-Match names
// that ETag gets 304 and no body. So an edge cache that keeps a playlist
// for a moment revalidates it with a conditional request, and the origin
// sends the playlist again only when it changed.
func serveMemo(ctx *fasthttp.RequestCtx, tl *pipeline.Timeline, slot, etagSlot int, render func(*pipeline.Timeline) []byte) {
	body := tl.Memo(slot, render)
	tag := tl.Memo(etagSlot, func(*pipeline.Timeline) []byte { return etagOf(body) })
	ctx.Response.Header.SetCanonical(hdrETag, tag)
	if inm := ctx.Request.Header.PeekBytes(hdrIfNoneMatch); len(inm) > 0 &&
		(bytes.Contains(inm, tag) || bytes.Equal(bytes.TrimSpace(inm), []byte("*"))) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.Response.SetBodyRaw(body)
}

// etagOf is a strong ETag of b: its 64-bit FNV-1a, quoted.
func etagOf(b []byte) []byte {
	h := fnv.New64a()
	h.Write(b)
	tag := make([]byte, 0, 18)
	tag = append(tag, '"')
	tag = hex.AppendEncode(tag, h.Sum(nil))
	return append(tag, '"')
}

// serveKey answers the AES-128 key of period n of a drm stream: 16 bytes,
// never cached (no-store), to players on_play let through.
func (s *Server) serveKey(ctx *fasthttp.RequestCtx, st *pipeline.Stream, n []byte) {
	num, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || num < 0 {
		notFound(ctx)
		return
	}
	key, ok := st.Key(num)
	if !ok {
		notFound(ctx)
		return
	}
	ctx.SetContentType("application/octet-stream")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(key[:])
}

// Memo slots of a pipeline.Timeline: one per format rendered from it.
const (
	memoMediaPlaylist = iota
)

// The slots of the playlists' ETags (serveMemo), after the formats'.
const (
	memoMediaETag = memoMPD + 1 + iota
	memoFMP4ETag
)

// mediaPlaylist renders the HLS media playlist of a timeline.
func mediaPlaylist(tl *pipeline.Timeline) []byte {
	return renderPlaylist(tl, "", config.DRM{}, false, "")
}

// renderPlaylist renders a timeline's playlist: with encrypted, each
// segment's EXT-X-KEY (slabcast's key route, or the drm's user_keyserver);
// query goes on every URI.
func renderPlaylist(tl *pipeline.Timeline, name string, drm config.DRM, encrypted bool, query string) []byte {
	listed := tl.Listed()
	m := m3u8.Media{Target: tl.Target, MediaSequence: tl.MediaSequence, DiscontinuitySequence: tl.DiscontinuitySequence,
		Segments: make([]m3u8.Segment, len(listed)), Query: query}
	for i, g := range listed {
		m.Segments[i] = m3u8.Segment{Start: g.Start, PTS: g.StartPTS(), Duration: g.Duration, Discontinuity: g.Discontinuity}
		if encrypted && g.Encrypted {
			m.Segments[i].Key = keyURI(name, drm, g.Key)
			if drm.ExplicitIV {
				iv := new([16]byte)
				binary.BigEndian.PutUint64(iv[8:], g.MSN)
				m.Segments[i].IV = iv
			}
		}
	}
	return m3u8.AppendMedia(make([]byte, 0, 160+len(listed)*(120+len(query))), &m)
}

// keyURI is where players fetch key n of stream name: slabcast's own key
// route beside the playlist, or the CAS itself (user_keyserver).
func keyURI(name string, drm config.DRM, n int64) string {
	if drm.UserKeyserver != "" {
		u, err := url.Parse(drm.UserKeyserver)
		if err == nil {
			q := u.Query()
			q.Set("file", name)
			q.Set("number", strconv.FormatInt(n, 10))
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return "key/" + strconv.FormatInt(n, 10) + ".key"
}

// findSegment returns the fetchable segment of st that the TS segment name
// names, nil when none.
func findSegment(st *pipeline.Stream, name []byte) *pipeline.Segment {
	if start, d, pts, ok := m3u8.ParseSegmentName(name); ok {
		if tl := st.Timeline(); tl != nil {
			return tl.Find(start, d, pts)
		}
	}
	return nil
}

func (s *Server) serveSegment(ctx *fasthttp.RequestCtx, st *pipeline.Stream, name []byte) {
	seg := findSegment(st, name)
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
