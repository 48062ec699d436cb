package hls

import (
	"bytes"
	"errors"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/hls/fmp4"
	"github.com/slabcast/slabcast/hls/m3u8"
	"github.com/slabcast/slabcast/pipeline"
)

// fMP4 HLS (index.fmp4.m3u8): the same segments, packaged from their TS in
// the slabs on first request into CMAF init and media segments
// (hls/fmp4), kept with the segment (pipeline.Segment.Package) and served
// as immutable as the TS ones. The names are the TS segments' with .m4s,
// and NAME.init.mp4 for the init segment made from that segment.

// Package slots of a segment.
const (
	packInit = iota
	packMedia
	packDASH
)

const ctMP4 = "video/mp4"

// memoFMP4Playlist is the Timeline.Memo slot of the fMP4 playlist.
// memoMPD is the slot of the DASH MPD.
const (
	memoFMP4Playlist = memoMediaPlaylist + 1 + iota
	memoMPD
)

// drmRefusal answers fMP4 requests of a drm stream: only its TS HLS is
// encrypted, so no cleartext leaves.
const drmRefusal = "this stream is encrypted (drm): play its HLS playlist, index.m3u8\n"

func (s *Server) serveFMP4Playlist(ctx *fasthttp.RequestCtx, st *pipeline.Stream) {
	if refuseDRM(ctx, st) {
		return
	}
	if st = s.waitReady(ctx, st); st == nil {
		return
	}
	ctx.SetContentType(ctPlaylist)
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	tl := st.Timeline()
	if tl == nil {
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusServiceUnavailable, "stream not ready: no segment yet\n")
		return
	}
	if token := ctx.QueryArgs().Peek("token"); len(token) > 0 {
		ctx.Response.SetBodyRaw(fmp4Playlist(tl, "token="+url.QueryEscape(string(token))))
		return
	}
	serveMemo(ctx, tl, memoFMP4Playlist, memoFMP4ETag, func(tl *pipeline.Timeline) []byte { return fmp4Playlist(tl, "") })
}

func fmp4Playlist(tl *pipeline.Timeline, query string) []byte {
	listed := tl.Listed()
	m := m3u8.Media{Target: tl.Target, MediaSequence: tl.MediaSequence, DiscontinuitySequence: tl.DiscontinuitySequence,
		Segments: make([]m3u8.Segment, len(listed)), Query: query, FMP4: true}
	for i, g := range listed {
		m.Segments[i] = m3u8.Segment{Start: g.Start, PTS: g.StartPTS(), Duration: g.Duration, Discontinuity: g.Discontinuity}
	}
	return m3u8.AppendMedia(make([]byte, 0, 200+len(listed)*(150+len(query))), &m)
}

// refuseDRM answers 403 for a drm stream, whose packaged forms would be
// cleartext (only its TS HLS is encrypted), and reports whether it did.
func refuseDRM(ctx *fasthttp.RequestCtx, st *pipeline.Stream) bool {
	_, drm := st.DRM()
	if drm {
		fail(ctx, fasthttp.StatusForbidden, drmRefusal)
	}
	return drm
}

// serveMP4 answers an immutable packaged form (fMP4 init, media, part).
func serveMP4(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType(ctMP4)
	ctx.Response.Header.SetCanonical(hdrCacheControl, valImmutable)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.Response.SetBodyRaw(body)
}

// packInitForm makes a TS segment's fMP4 init segment.
func packInitForm(data []byte) ([]byte, error) {
	p, err := fmp4.Parse(data)
	if err != nil {
		return nil, err
	}
	return p.Init()
}

// serveFMP4 answers the init (slot packInit) or media segment made from
// the TS segment named rest with suffix in place of ".ts".
func (s *Server) serveFMP4(ctx *fasthttp.RequestCtx, st *pipeline.Stream, rest, suffix []byte, slot int) {
	if refuseDRM(ctx, st) {
		return
	}
	seg := findSegment(st, append(bytes.Clone(rest[:len(rest)-len(suffix)]), suffixTS...))
	if seg == nil {
		notFound(ctx)
		return
	}
	pack := packInitForm
	if slot == packMedia {
		pack = func(data []byte) ([]byte, error) {
			p, err := fmp4.Parse(data)
			if err != nil {
				return nil, err
			}
			// Unwrapped next to the segment's wall-clock start: the same
			// reference for every segment of the stream to within the
			// PTS-to-clock offset, so consecutive segments get one
			// continuous 64-bit timeline.
			return p.Media(uint32(seg.MSN), mediaRef(seg))
		}
	}
	body, err := seg.Package(slot, pack)
	switch {
	case err == nil:
	case errors.Is(err, pipeline.ErrOverwritten):
		notFound(ctx)
		return
	default:
		// A segment whose codecs fMP4 cannot carry (MPEG-2 video, MP2,
		// AC-3): its TS form is the one to play.
		fail(ctx, fasthttp.StatusNotFound, "no fMP4 form of this segment: "+err.Error()+"\n")
		return
	}
	serveMP4(ctx, body)
}
