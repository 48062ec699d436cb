package hls

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/hls/fmp4"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// MPEG-DASH (index.mpd, Manifest.mpd): a dynamic MPD, live profile, one
// Period per run of segments without a discontinuity, one AdaptationSet per
// track fMP4 can carry, SegmentTemplate with a SegmentTimeline and $Time$.
// Media and init segments are the TS
// segments in the slabs packaged per track (hls/fmp4), once per segment
// (slot packDASH), like fMP4 HLS.
//
// The MPD lists the stream's segments from its second (unlisted).
//
// Timing. availabilityStartTime is the wall-clock start of the stream's
// first segment since it started (pipeline.Segment.Epoch), so the first
// Period starts at 0 and a later one (after a discontinuity) at its first
// segment's start (EXT-X-PROGRAM-DATE-TIME) less that. (The Unix epoch
// would serve as well for DASH, but GStreamer's dashdemux2 seeks to the
// wrong segment by as much as its first S's MPD time, Period@start
// included; it still does once the window has slid, see TestDASHPlayers.)
// Inside a
// Period, S@t is each segment's earliest presentation time (its first
// keyframe's PTS, unwrapped next to its wall-clock start exactly as the
// packager unwraps tfdt), and presentationTimeOffset is the Period's first
// PTS on that timeline: the media timeline maps to the clock by the
// Period's anchor, not by each segment's slewed PDT.
//
// URLs, below the stream: dash/REP/pP-tT.m4s is the segment of the Period
// that started at MSN P whose track REP (v or a, then the track's PID)
// starts at T, its S@t. $Time$, not $Number$: ffmpeg's live DASH reader
// fetched a $Number$ audio track's segments out of order (a segment, then
// the one before), and MSNs exceed the schema's 32-bit startNumber.
// dash/REP/pP.init.mp4 is the Period's init segment, made from any of its
// segments (they carry the same parameter sets, so the bytes are the same).

const ctMPD = "application/dash+xml"

var (
	nameMPD         = []byte("index.mpd")
	nameManifestMPD = []byte("Manifest.mpd")
	prefixDASH      = []byte("dash/")
)

// dashForm is a segment packaged for DASH: per track, its description,
// init and media segment.
type dashForm struct {
	tracks []dashTrack
}

type dashTrack struct {
	rep       string // representation id: v256, a257
	video     bool
	codec     string
	timescale uint32
	ept, end  uint64 // fmp4.Track.Span, in timescale
	width     int
	height    int
	rate      int
	channels  int
	init      []byte
	media     []byte
}

// mediaRef is the reference next to which a segment's 33-bit timestamps
// are unwrapped (fmp4.Unwrap): its wall-clock start in 90 kHz ticks. Every
// packaged form and manifest of a segment uses it, so tfdt and S@t agree.
func mediaRef(seg *pipeline.Segment) uint64 {
	return uint64(seg.Start.UnixNano() / 1e9 * fmp4.VideoTimeScale)
}

// packDASHForm parses a TS segment and makes each track's init and media
// segment.
func packDASHForm(seg *pipeline.Segment) func([]byte) (*dashForm, error) {
	return func(data []byte) (*dashForm, error) {
		p, err := fmp4.Parse(data)
		if err != nil {
			return nil, err
		}
		f := &dashForm{}
		for _, t := range p.Tracks {
			if !t.HasConfig() {
				continue
			}
			dt := dashTrack{codec: t.CodecString, timescale: t.TimeScale, width: t.Width, height: t.Height,
				rate: t.SampleRate, channels: t.Channels, video: t.Codec != ts.CodecAAC}
			if dt.video {
				dt.rep = "v" + strconv.Itoa(t.ID)
			} else {
				dt.rep = "a" + strconv.Itoa(t.ID)
			}
			dt.ept, dt.end = t.Span(mediaRef(seg))
			if dt.init, err = p.Init(t.ID); err != nil {
				return nil, err
			}
			if dt.media, err = p.Media(uint32(seg.MSN), mediaRef(seg), t.ID); err != nil {
				return nil, err
			}
			f.tracks = append(f.tracks, dt)
		}
		if len(f.tracks) == 0 {
			return nil, fmp4.ErrNoConfig
		}
		return f, nil
	}
}

// PackedSize is the form's size for the pool's budget of packaged forms;
// 0 for the nil form a failed packaging returns with its error.
func (f *dashForm) PackedSize() int {
	if f == nil {
		return 0
	}
	n := 0
	for i := range f.tracks {
		n += len(f.tracks[i].init) + len(f.tracks[i].media)
	}
	return n
}

// track returns the form's track with representation id rep, or nil; f
// may be nil.
func (f *dashForm) track(rep string) *dashTrack {
	if f == nil {
		return nil
	}
	for i := range f.tracks {
		if f.tracks[i].rep == rep {
			return &f.tracks[i]
		}
	}
	return nil
}

func dashOf(seg *pipeline.Segment) (*dashForm, error) {
	return pipeline.Packaged(seg, packDASH, packDASHForm(seg))
}

func (s *Server) serveMPD(ctx *fasthttp.RequestCtx, st *pipeline.Stream) {
	if refuseDRM(ctx, st) {
		return
	}
	if st = s.waitReady(ctx, st); st == nil {
		return
	}
	tl := s.waitDASHListable(st)
	if tl == nil {
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusServiceUnavailable, "stream not ready: no segment yet\n")
		return
	}
	body := tl.Memo(memoMPD, func(tl *pipeline.Timeline) []byte { return renderMPD(tl, time.Now()) })
	if len(body) == 0 {
		fail(ctx, fasthttp.StatusNotFound, "no DASH form: no segment has a track DASH carries here (H.264, HEVC, AAC); play index.m3u8\n")
		return
	}
	ctx.SetContentType(ctMPD)
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	// The clock to sync to (dash.js asks the internet's otherwise, and a
	// player's clock that is off moves its live edge): this server's
	// /time, named absolutely because dash.js resolves it against the
	// page, not the MPD. The memo ends just before </MPD>.
	ctx.Response.AppendBody(body)
	if host := ctx.Host(); len(host) > 0 {
		ctx.Response.AppendBodyString(`<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http://`)
		ctx.Response.AppendBody(host)
		ctx.Response.AppendBodyString("/time\"/>\n")
	}
	ctx.Response.AppendBodyString("</MPD>\n")
}

// unlisted reports whether the MPD leaves g out: the stream's first
// segment since it started. It begins wherever the daemon joined the
// source, usually a fraction of segment_duration, and a track's first
// two segments less than a second apart throw ffmpeg's live DASH reader
// (5.1, and master as of writing) back a segment: refresh_manifest finds
// the segment it is about to read by its start truncated to whole
// seconds, lands on the one before, and reads that again and again (dts
// going back) until it leaves the window. Every later segment starts at
// a keyframe on a segment_duration boundary, so with segment_duration 2
// or more no two of them are that close. It stays fetchable; HLS lists
// it.
func unlisted(g *pipeline.Segment) bool {
	return g.MSN == g.Period.MSN && g.Start.Equal(g.Epoch)
}

// waitDASHListable returns the stream's timeline once the MPD has a
// segment to list, following a replacement as waitReady does, or nil when
// there is none by the time a player waiting for an ondemand stream's
// first segment would wait (waitReady): just after a start that is one
// segment more.
func (s *Server) waitDASHListable(st *pipeline.Stream) *pipeline.Timeline {
	deadline := time.Now().Add(3*st.Config().SegmentDuration + 5*time.Second)
	for {
		if tl := st.Timeline(); tl != nil {
			if l := tl.Listed(); len(l) > 1 || len(l) == 1 && !unlisted(l[0]) {
				return tl
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-st.Stopped():
			next, err := s.successor(st, deadline)
			if err != nil {
				return nil
			}
			st = next
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// serveTime answers /time: the server's clock as ISO 8601 UTC to the
// millisecond, DASH's UTCTiming http-iso source.
func serveTime(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	ctx.Response.SetBodyRaw(time.Now().UTC().AppendFormat(make([]byte, 0, 24), "2006-01-02T15:04:05.000Z"))
}

// period is a run of listed segments rendered as one DASH Period.
type period struct {
	segs  []*pipeline.Segment
	forms []*dashForm // each segment's, nil for one that does not package
	last  *dashForm   // the tracks: those of its newest segment that packages
}

// renderMPD renders the MPD of a timeline at now, or nil when no listed
// segment packages. It packages every listed segment (each once): the
// timeline gives each track's own earliest presentation times, which only
// the packaged samples know (audio starts before the keyframe a segment
// is cut at).
func renderMPD(tl *pipeline.Timeline, now time.Time) []byte {
	listed := tl.Listed()
	if len(listed) > 0 && unlisted(listed[0]) {
		listed = listed[1:]
	}
	if len(listed) == 0 {
		return nil
	}
	var periods []period
	for i, g := range listed {
		if i == 0 || g.Period.MSN != listed[i-1].Period.MSN {
			periods = append(periods, period{})
		}
		p := &periods[len(periods)-1]
		f, err := dashOf(g)
		if err != nil {
			f = nil
		}
		p.segs = append(p.segs, g)
		p.forms = append(p.forms, f)
		if f != nil {
			p.last = f
		}
	}
	var depth time.Duration
	for _, g := range listed {
		depth += g.Duration
	}
	// A Period whose segments no track packages (MPEG-2 video...) is left
	// out: its time is a gap, never a broken Period.
	kept := periods[:0]
	for _, p := range periods {
		if p.last != nil {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	target := time.Duration(tl.Target) * time.Second
	b := make([]byte, 0, 1024+len(listed)*120)
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic"`...)
	epoch := listed[0].Epoch
	b = append(b, ` availabilityStartTime="`...)
	b = epoch.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `" publishTime="`...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `" minimumUpdatePeriod="`...)
	b = appendDuration(b, target)
	b = append(b, `" minBufferTime="`...)
	b = appendDuration(b, target)
	b = append(b, `" timeShiftBufferDepth="`...)
	b = appendDuration(b, depth)
	b = append(b, `" suggestedPresentationDelay="`...)
	b = appendDuration(b, 3*target)
	b = append(b, `" maxSegmentDuration="`...)
	b = appendDuration(b, target)
	b = append(b, "\">\n"...)
	for i := range kept {
		b = appendPeriod(b, &kept[i], epoch)
	}
	return b // serveMPD closes it, after the UTCTiming of the request's host
}

// appendPeriod renders one Period: an AdaptationSet per track, each with
// its SegmentTemplate and timeline in the track's timescale.
func appendPeriod(b []byte, p *period, epoch time.Time) []byte {
	anchor := p.segs[0].Period
	pto := fmp4.Unwrap(anchor.PTS, uint64(anchor.Start.UnixNano()/1e9*fmp4.VideoTimeScale))
	b = append(b, `<Period id="p`...)
	b = strconv.AppendUint(b, anchor.MSN, 10)
	b = append(b, `" start="`...)
	b = appendDuration(b, anchor.Start.Sub(epoch))
	b = append(b, "\">\n"...)
	// The segments listed: the run up to the newest that carry every
	// track, so that every AdaptationSet covers the same segments.
	first := 0
	for _, t := range p.last.tracks {
		i := len(p.forms)
		for i > 0 && p.forms[i-1].track(t.rep) != nil {
			i--
		}
		first = max(first, i)
	}
	for i := range p.last.tracks {
		t := &p.last.tracks[i]
		var spans []span
		var bytes, ticks uint64
		for _, f := range p.forms[first:] {
			ft := f.track(t.rep)
			spans = append(spans, span{ft.ept, ft.end})
			bytes += uint64(len(ft.media))
			ticks += ft.end - ft.ept
		}
		b = append(b, `<AdaptationSet id="`...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		if t.video {
			b = append(b, `" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">`...)
		} else {
			b = append(b, `" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1">`...)
		}
		b = append(b, "\n<SegmentTemplate timescale=\""...)
		b = strconv.AppendUint(b, uint64(t.timescale), 10)
		b = append(b, `" presentationTimeOffset="`...)
		b = strconv.AppendUint(b, rescale(pto, t.timescale), 10)
		b = append(b, `" initialization="dash/$RepresentationID$/p`...)
		b = strconv.AppendUint(b, anchor.MSN, 10)
		b = append(b, `.init.mp4" media="dash/$RepresentationID$/p`...)
		b = strconv.AppendUint(b, anchor.MSN, 10)
		b = append(b, `-t$Time$.m4s">`...)
		b = append(b, "\n<SegmentTimeline>"...)
		b = appendTimeline(b, spans)
		b = append(b, "</SegmentTimeline>\n</SegmentTemplate>\n"...)
		b = append(b, `<Representation id="`...)
		b = append(b, t.rep...)
		b = append(b, `" bandwidth="`...)
		b = strconv.AppendUint(b, max(1, bytes*8*uint64(t.timescale)/max(ticks, 1)), 10)
		if t.codec != "" {
			b = append(b, `" codecs="`...)
			b = append(b, t.codec...)
		}
		if t.video {
			b = append(b, `" width="`...)
			b = strconv.AppendInt(b, int64(t.width), 10)
			b = append(b, `" height="`...)
			b = strconv.AppendInt(b, int64(t.height), 10)
			b = append(b, "\"/>\n"...)
		} else {
			b = append(b, `" audioSamplingRate="`...)
			b = strconv.AppendInt(b, int64(t.rate), 10)
			b = append(b, `">`+"\n"+`<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="`...)
			b = strconv.AppendInt(b, int64(t.channels), 10)
			b = append(b, "\"/>\n</Representation>\n"...)
		}
		b = append(b, "</AdaptationSet>\n"...)
	}
	return append(b, "</Period>\n"...)
}

// span is a segment of one track on its timeline: earliest presentation
// time, and where its samples end.
type span struct{ ept, end uint64 }

// appendTimeline renders S elements for the spans: a segment lasts until
// the next one starts (its own end for the last, or before a gap), and
// runs of equal durations that follow on are folded into @r.
func appendTimeline(b []byte, spans []span) []byte {
	dur := func(i int) uint64 {
		if i+1 < len(spans) && spans[i+1].ept > spans[i].ept && spans[i+1].ept <= spans[i].end+(spans[i].end-spans[i].ept)/2 {
			return spans[i+1].ept - spans[i].ept
		}
		return max(spans[i].end-spans[i].ept, 1)
	}
	for i := 0; i < len(spans); {
		d := dur(i)
		r := 0
		for i+r+1 < len(spans) && spans[i+r].ept+d == spans[i+r+1].ept && dur(i+r+1) == d {
			r++
		}
		b = append(b, `<S t="`...)
		b = strconv.AppendUint(b, spans[i].ept, 10)
		b = append(b, `" d="`...)
		b = strconv.AppendUint(b, d, 10)
		if r > 0 {
			b = append(b, `" r="`...)
			b = strconv.AppendInt(b, int64(r), 10)
		}
		b = append(b, `"/>`...)
		i += r + 1
	}
	return b
}

// rescale converts a 90 kHz time to timescale ts, as fmp4 places AAC.
func rescale(t90 uint64, timescale uint32) uint64 {
	if timescale == fmp4.VideoTimeScale {
		return t90
	}
	return (t90*uint64(timescale) + fmp4.VideoTimeScale/2) / fmp4.VideoTimeScale
}

// appendDuration appends d as an xs:duration in seconds, to the
// millisecond.
func appendDuration(b []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	b = append(b, "PT"...)
	b = strconv.AppendInt(b, ms/1000, 10)
	if ms%1000 != 0 {
		b = fmt.Appendf(b, ".%03d", ms%1000)
	}
	return append(b, 'S')
}

// serveDASH answers dash/REP/pP-tT.m4s and dash/REP/pP.init.mp4.
func (s *Server) serveDASH(ctx *fasthttp.RequestCtx, st *pipeline.Stream, rest []byte) {
	if refuseDRM(ctx, st) {
		return
	}
	rest = rest[len(prefixDASH):]
	slash := bytes.IndexByte(rest, '/')
	if slash < 0 {
		notFound(ctx)
		return
	}
	rep, file := rest[:slash], rest[slash+1:]
	// pP.init.mp4 or pP-tT.m4s: Period P (its first MSN), the segment
	// starting at T.
	init := bytes.HasSuffix(file, suffixInit)
	var pText, tText []byte
	switch {
	case len(file) < 2 || file[0] != 'p':
	case init:
		pText = file[1 : len(file)-len(suffixInit)]
	case bytes.HasSuffix(file, suffixM4S):
		if dash := bytes.Index(file, []byte("-t")); dash > 0 {
			pText, tText = file[1:dash], file[dash+2:len(file)-len(suffixM4S)]
		}
	}
	period, err1 := strconv.ParseUint(string(pText), 10, 64)
	n, err2 := strconv.ParseUint(string(tText), 10, 64)
	tl := st.Timeline()
	if err1 != nil || (!init && err2 != nil) || tl == nil {
		notFound(ctx)
		return
	}
	// The segment: for an init, any of the Period's (newest first); for
	// media, the Period's segment whose track starts at T or, failing
	// that, the one starting nearest T by less than half its length:
	// players that predict the next URL from the last S element (ffmpeg)
	// ask for its end, and an audio track whose source groups several
	// frames per PES starts its next segment a few frames off that.
	// Looking packages each of the Period's segments at most once, so a
	// client asking for times that do not exist costs no more than one
	// DASH player.
	var body []byte
	var failed error
	var near *dashTrack
	var nearBy uint64
	for i := len(tl.Segments) - 1; i >= 0 && body == nil; i-- {
		g := tl.Segments[i]
		if g.Period.MSN != period {
			continue
		}
		f, err := dashOf(g)
		if err != nil {
			failed = err
			continue
		}
		t := f.track(string(rep))
		switch {
		case t == nil:
		case init:
			body = t.init
		case t.ept == n:
			body = t.media
		default:
			if by := max(t.ept, n) - min(t.ept, n); by < (t.end-t.ept)/2 && (near == nil || by < nearBy) {
				near, nearBy = t, by
			}
		}
	}
	if body == nil && near != nil {
		body = near.media
	}
	if body == nil {
		if failed != nil && !errors.Is(failed, pipeline.ErrOverwritten) {
			fail(ctx, fasthttp.StatusNotFound, "no DASH form of this segment: "+failed.Error()+"\n")
			return
		}
		notFound(ctx)
		return
	}
	serveMP4(ctx, body)
}
