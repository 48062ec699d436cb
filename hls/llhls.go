package hls

import (
	"bytes"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/hls/fmp4"
	"github.com/slabcast/slabcast/hls/m3u8"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// Low-Latency HLS (index.ll.m3u8, RFC 8216bis): the fMP4 playlist plus
// parts of the segment being written. Parts are cut from the open segment's
// committed bytes in the slabs: a stream that has LL-HLS clients gets a
// goroutine (llStream.run) that, a few times per part target, parses the
// open segment's prefix again and packages each part that has become
// whole. A part is the run of video samples (decode order) that fits in
// chunk_duration, closed once the sample after it has arrived, with the
// audio presented before its end; it never changes once made. Parts are
// named ll/MSN.K.m4s, and the init before an open segment ll/MSN.init.mp4.
//
// Blocking playlist reload (_HLS_msn, _HLS_part) and the preload hint
// wait on the stream's change channel, closed whenever a part, segment or
// open segment appears; fasthttp's connection goroutine is the only one a
// waiting client has.

const (
	// llIdle is how long a stream's part maker runs after its last LL-HLS
	// request.
	llIdle = 30 * time.Second
	// llKeep is how many recent segments keep their parts: those of the
	// last three target durations are listed, and one more for a player
	// still fetching parts of the segment before.
	llKeep = 5
)

var (
	nameLLIndex = []byte("index.ll.m3u8")
	prefixLL    = []byte("ll/")
)

// llPart is one packaged part.
type llPart struct {
	body        []byte
	dur         time.Duration
	independent bool
}

// llSeg is the parts of one segment.
type llSeg struct {
	seg      *pipeline.Segment
	parts    []llPart
	next     map[int]int // track ID: the next sample to put in a part
	ids      []int       // the tracks parts carry: those with a configuration at the first part
	init     []byte
	lastSize int64
	done     bool // every part made (or the segment lost)
}

// llStream makes and keeps the parts of one stream.
type llStream struct {
	st      *pipeline.Stream
	target  time.Duration // part target
	lastUse atomic.Int64  // Unix nanoseconds of the last LL-HLS request

	mu      sync.Mutex
	segs    []*llSeg // oldest first
	changed chan struct{}
	buf     []byte
	// quiet is when the open segment is next worth parsing: a part is
	// made about once a part target of live media, so after one the
	// next cannot be whole for about that long (parsing the open
	// segment's prefix is the part maker's whole cost).
	quiet time.Time
}

// llStreams are the streams with LL-HLS clients.
type llStreams struct {
	mu sync.Mutex
	m  map[*pipeline.Stream]*llStream
}

// ll returns st's part maker, starting it on first use.
func (s *Server) ll(st *pipeline.Stream) *llStream {
	s.lls.mu.Lock()
	defer s.lls.mu.Unlock()
	l := s.lls.m[st]
	if l == nil {
		target := st.Config().ChunkDuration
		if target <= 0 {
			target = config.DefaultChunkDuration
		}
		l = &llStream{st: st, target: target, changed: make(chan struct{})}
		if s.lls.m == nil {
			s.lls.m = make(map[*pipeline.Stream]*llStream)
		}
		s.lls.m[st] = l
		l.lastUse.Store(time.Now().UnixNano())
		l.update()
		go s.runLL(l)
	}
	l.lastUse.Store(time.Now().UnixNano())
	// A segment that has just finished, or begun, shows in the playlist
	// at once, not at the next tick.
	l.mu.Lock()
	n := len(l.segs)
	stale := n == 0 || l.segs[n-1].seg != st.Live() || l.segs[n-1].seg.Done() && !l.segs[n-1].done
	l.mu.Unlock()
	if stale {
		l.update()
	}
	return l
}

// runLL updates l four times a part target until its stream stops or no
// LL-HLS client has asked for llIdle.
func (s *Server) runLL(l *llStream) {
	tick := time.NewTicker(max(l.target/4, 20*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-l.st.Stopped():
		}
		select {
		case <-l.st.Stopped():
		default:
			if time.Since(time.Unix(0, l.lastUse.Load())) < llIdle {
				l.update()
				continue
			}
		}
		s.lls.mu.Lock()
		delete(s.lls.m, l.st)
		s.lls.mu.Unlock()
		return
	}
}

// update makes the parts that have become whole and wakes waiting
// requests if anything appeared.
func (l *llStream) update() {
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := false
	live := l.st.Live()
	if live != nil && (len(l.segs) == 0 || l.segs[len(l.segs)-1].seg != live) {
		l.segs = append(l.segs, &llSeg{seg: live, next: make(map[int]int)})
		changed = true
	}
	now := time.Now()
	for _, ls := range l.segs {
		if ls.done || !ls.seg.Done() && now.Before(l.quiet) && len(ls.parts) > 0 {
			continue
		}
		if n := len(ls.parts); l.advance(ls) {
			changed = true
			if len(ls.parts) > n {
				l.quiet = now.Add(l.target * 3 / 4)
			}
		}
	}
	if n := len(l.segs) - llKeep; n > 0 {
		clear(l.segs[:n])
		l.segs = l.segs[n:]
	}
	if changed {
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// advance packages ls's parts that have become whole; the segment's last
// part once it is finished. It reports whether a part was made or the
// segment was finished.
func (l *llStream) advance(ls *llSeg) bool {
	complete := ls.seg.Done()
	size := ls.seg.Size()
	if size == ls.lastSize && !complete {
		return false
	}
	ls.lastSize = size
	if cap(l.buf) < int(size) {
		l.buf = make([]byte, size+size/2)
	}
	buf := l.buf[:size]
	n, err := ls.seg.CopyAt(buf, 0)
	if err != nil {
		ls.done = true // overwritten: the segment is gone
		return true
	}
	p, err := fmp4.Parse(buf[:n])
	if err != nil {
		if complete {
			ls.done = true
			return true
		}
		return false // no sample yet
	}
	ids := ls.ids
	if ls.init == nil {
		// Until the first part is made, the tracks are those with a
		// configuration so far (audio ahead of the keyframe included).
		ids = nil
		for _, t := range p.Tracks {
			if t.HasConfig() {
				ids = append(ids, t.ID)
			}
		}
	}
	clock := l.clock(p, ids)
	if clock == nil {
		if complete {
			ls.done = true
			return true
		}
		return false
	}
	ref := mediaRef(ls.seg)
	made := false
	ctl := clock.Timeline(ref)
	nD := len(ctl)
	end := ctl[nD-1].DTS + uint64(ctl[nD-1].Duration)
	// ends(k) is where samples before k end: sample k's start, known once
	// sample k has begun (and so sample k-1 is whole), or the segment's
	// end once it is finished.
	ends := func(k int) (uint64, bool) {
		if k < nD {
			return ctl[k].DTS, true
		}
		return end, complete
	}
	P := uint64(l.target * time.Duration(clock.TimeScale) / time.Second)
	// The other tracks (audio), on their timelines, placed once: parts
	// take their samples presented before the part's end.
	type other struct {
		t  *fmp4.Track
		tl []fmp4.SampleTime
	}
	var others []other
	for _, id := range ids {
		if t := p.Track(id); t != nil && t != clock {
			others = append(others, other{t, t.Timeline(ref)})
		}
	}
	// at converts a sample start of o to the clock track's timescale.
	at := func(o *other, i int) uint64 { return o.tl[i].DTS * uint64(clock.TimeScale) / uint64(o.t.TimeScale) }
	for {
		i := ls.next[clock.ID]
		if i >= nD {
			break
		}
		k := i + 1
		e, ok := ends(k)
		if !ok {
			break
		}
		closed := false
		for k < nD {
			e2, ok2 := ends(k + 1)
			if !ok2 {
				break
			}
			if e2-ctl[i].DTS > P {
				closed = true
				break
			}
			k, e = k+1, e2
		}
		if k == nD {
			closed = complete
		}
		if !closed {
			break
		}
		// The other tracks (audio) must have arrived past the part's end
		// too, or the part would go without them: wait for a sample at or
		// after e, for the segment's end, or, should a track fall silent,
		// for three part targets more of the clock track.
		past := true
		for j := range others {
			o := &others[j]
			past = past && len(o.tl) > 0 && at(o, len(o.tl)-1) >= e
		}
		if !complete && ctl[nD-1].DTS < e+3*P && !past {
			break
		}
		if ls.init == nil {
			if ls.init, err = p.Init(ids...); err != nil {
				ls.done = true
				return true
			}
			ls.ids = ids
		}
		last := complete && k == nD
		ranges := []fmp4.Range{{ID: clock.ID, From: i, To: k}}
		for j := range others {
			o := &others[j]
			from := ls.next[o.t.ID]
			to := from
			for to < len(o.tl) && (last || at(o, to) < e) {
				to++
			}
			ranges = append(ranges, fmp4.Range{ID: o.t.ID, From: from, To: to})
			ls.next[o.t.ID] = to
		}
		indep := false
		for _, smp := range ctl[i:k] {
			indep = indep || smp.Sync
		}
		seq := uint32(ls.seg.MSN<<5) + uint32(len(ls.parts))
		body, err := p.Part(seq, ref, ranges)
		if err != nil {
			ls.done = true
			return true
		}
		ls.parts = append(ls.parts, llPart{body: body, independent: indep,
			dur: time.Duration(e-ctl[i].DTS) * time.Second / time.Duration(clock.TimeScale)})
		ls.next[clock.ID] = k
		made = true
	}
	if complete {
		ls.done = true
		return true
	}
	return made
}

// clock is the track parts are cut by: the first video track among ids,
// else the first track.
func (l *llStream) clock(p *fmp4.Segment, ids []int) *fmp4.Track {
	var first *fmp4.Track
	for _, id := range ids {
		t := p.Track(id)
		if t == nil || t.Samples() == 0 {
			continue
		}
		if t.Codec != ts.CodecAAC {
			return t
		}
		if first == nil {
			first = t
		}
	}
	return first
}

// find returns the parts of segment msn, or nil. l.mu is held.
func (l *llStream) find(msn uint64) *llSeg {
	for _, ls := range l.segs {
		if ls.seg.MSN == msn {
			return ls
		}
	}
	return nil
}

// open returns the segment being written, if it is l's newest. l.mu is
// held.
func (l *llStream) open() *llSeg {
	if n := len(l.segs); n > 0 && !l.segs[n-1].seg.Done() {
		return l.segs[n-1]
	}
	return nil
}

// has reports whether the playlist holds segment msn (part < 0) or part
// part of segment msn, and whether msn is too far ahead to wait for (more
// than two segments past the newest). l.mu is held.
func (l *llStream) has(tl *pipeline.Timeline, msn uint64, part int) (ok, tooFar bool) {
	listed := tl.Listed()
	var newest uint64
	if len(listed) > 0 {
		newest = listed[len(listed)-1].MSN
		if msn <= newest {
			return true, false
		}
	}
	if o := l.open(); o != nil && o.seg.MSN == msn && part >= 0 && len(o.parts) > part {
		return true, false
	}
	if o := l.open(); o != nil && o.seg.MSN > newest {
		newest = o.seg.MSN
	}
	return false, len(listed) > 0 && msn > newest+2
}

// wait blocks until cond holds (checked under l.mu) or d passes.
func (l *llStream) wait(d time.Duration, cond func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		l.mu.Lock()
		ok := cond()
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
}

func (s *Server) serveLLPlaylist(ctx *fasthttp.RequestCtx, st *pipeline.Stream) {
	if refuseDRM(ctx, st) {
		return
	}
	if st = s.waitReady(ctx, st); st == nil {
		return
	}
	l := s.ll(st)
	args := ctx.QueryArgs()
	msnArg, partArg := args.Peek("_HLS_msn"), args.Peek("_HLS_part")
	if len(msnArg) > 0 || len(partArg) > 0 {
		msn, err1 := strconv.ParseUint(string(msnArg), 10, 64)
		part := -1
		var err2 error
		if len(partArg) > 0 {
			part, err2 = strconv.Atoi(string(partArg))
		}
		if err1 != nil || err2 != nil || part < -1 {
			fail(ctx, fasthttp.StatusBadRequest, "bad _HLS_msn or _HLS_part\n")
			return
		}
		tooFar := false
		target := time.Duration(max(st.Timeline().Target, 1)) * time.Second
		ok := l.wait(3*target, func() bool {
			var ok bool
			ok, tooFar = l.has(st.Timeline(), msn, part)
			return ok || tooFar
		})
		if tooFar {
			fail(ctx, fasthttp.StatusBadRequest, "_HLS_msn is more than two segments ahead of the playlist\n")
			return
		}
		if !ok {
			ctx.Response.Header.Set("Retry-After", "1")
			fail(ctx, fasthttp.StatusServiceUnavailable, "the segment or part asked for did not appear in three target durations\n")
			return
		}
	}
	tl := st.Timeline()
	if tl == nil {
		ctx.Response.Header.Set("Retry-After", "1")
		fail(ctx, fasthttp.StatusServiceUnavailable, "stream not ready: no segment yet\n")
		return
	}
	query := ""
	if token := ctx.QueryArgs().Peek("token"); len(token) > 0 {
		query = "token=" + url.QueryEscape(string(token))
	}
	ctx.SetContentType(ctPlaylist)
	ctx.Response.Header.SetCanonical(hdrCacheControl, valNoCache)
	ctx.Response.SetBodyRaw(l.render(tl, query))
}

// render writes the LL-HLS playlist of tl with l's parts.
func (l *llStream) render(tl *pipeline.Timeline, query string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	listed := tl.Listed()
	m := m3u8.Media{Target: tl.Target, MediaSequence: tl.MediaSequence, DiscontinuitySequence: tl.DiscontinuitySequence,
		Segments: make([]m3u8.Segment, len(listed)), Query: query, PartTarget: l.target}
	// Parts are listed for the segments of the last three target
	// durations (RFC 8216bis 6.2.2).
	window := 3 * time.Duration(tl.Target) * time.Second
	var recent time.Duration
	partsFrom := len(listed)
	for i := len(listed) - 1; i >= 0 && recent < window; i-- {
		recent += listed[i].Duration
		partsFrom = i
	}
	for i, g := range listed {
		m.Segments[i] = m3u8.Segment{Start: g.Start, PTS: g.StartPTS(), Duration: g.Duration, Discontinuity: g.Discontinuity}
		if ls := l.find(g.MSN); ls != nil && i >= partsFrom && ls.done {
			m.Segments[i].Parts = partList(ls)
		}
	}
	next := tl.MediaSequence + uint64(len(listed))
	if o := l.open(); o != nil && o.seg.MSN >= next {
		m.Open = &m3u8.Segment{Start: o.seg.Start, PTS: o.seg.StartPTS(), Discontinuity: o.seg.Discontinuity, Parts: partList(o),
			Map: "ll/" + strconv.FormatUint(o.seg.MSN, 10) + ".init.mp4"}
		m.PreloadHint = partURI(o.seg.MSN, len(o.parts))
	} else {
		m.PreloadHint = partURI(next, 0)
	}
	return m3u8.AppendMedia(make([]byte, 0, 400+len(listed)*(150+len(query))+len(l.segs)*8*(60+len(query))), &m)
}

func partList(ls *llSeg) []m3u8.Part {
	out := make([]m3u8.Part, len(ls.parts))
	for k, p := range ls.parts {
		out[k] = m3u8.Part{URI: partURI(ls.seg.MSN, k), Duration: p.dur, Independent: p.independent}
	}
	return out
}

func partURI(msn uint64, k int) string {
	return "ll/" + strconv.FormatUint(msn, 10) + "." + strconv.Itoa(k) + ".m4s"
}

// serveLL answers ll/MSN.K.m4s (a part) and ll/MSN.init.mp4 (the init
// segment for segment MSN). The part to come, named by the preload hint,
// is held until it is made, up to three part targets past when it is due.
func (s *Server) serveLL(ctx *fasthttp.RequestCtx, st *pipeline.Stream, rest []byte) {
	if refuseDRM(ctx, st) {
		return
	}
	name := rest[len(prefixLL):]
	init := bytes.HasSuffix(name, suffixInit)
	var msnText, kText []byte
	switch {
	case init:
		msnText = name[:len(name)-len(suffixInit)]
	case bytes.HasSuffix(name, suffixM4S):
		stem := name[:len(name)-len(suffixM4S)]
		if dot := bytes.IndexByte(stem, '.'); dot >= 0 {
			msnText, kText = stem[:dot], stem[dot+1:]
		}
	}
	msn, err1 := strconv.ParseUint(string(msnText), 10, 64)
	k, err2 := strconv.Atoi(string(kText))
	if err1 != nil || (!init && (err2 != nil || k < 0 || k > 1<<16)) {
		notFound(ctx)
		return
	}
	l := s.ll(st)
	var body []byte
	found := func() bool {
		ls := l.find(msn)
		switch {
		case ls == nil:
		case init:
			body = ls.init
		case k < len(ls.parts):
			body = ls.parts[k].body
		}
		return body != nil
	}
	// Wait only for what is about to exist: a part of the open segment or
	// the next one, not one of a segment long gone.
	due := func() bool {
		if found() {
			return true
		}
		if o := l.open(); o != nil {
			return msn < o.seg.MSN || msn > o.seg.MSN+1
		}
		return len(l.segs) > 0 && msn <= l.segs[len(l.segs)-1].seg.MSN
	}
	l.mu.Lock()
	ok := found()
	l.mu.Unlock()
	if !ok {
		target := time.Duration(max(st.Timeline().Target, 1)) * time.Second
		l.wait(target+3*l.target, due)
		l.mu.Lock()
		ok = found()
		l.mu.Unlock()
	}
	if !ok && init {
		// The init of a segment made before parts were: its fMP4 one.
		if tl := st.Timeline(); tl != nil {
			for _, g := range tl.Segments {
				if g.MSN == msn {
					body, _ = g.Package(packInit, packInitForm)
				}
			}
		}
	}
	if body == nil {
		notFound(ctx)
		return
	}
	serveMP4(ctx, body)
}
