package pipeline

import (
	"strconv"
	"time"
)

// segmentName is a segment's path below its stream, Flussonic style: the UTC
// start time, then the duration in milliseconds. Both come from the media
// timeline and the clock, so a name is never reused, across restarts too,
// and an edge cache may keep it forever. Milliseconds are part of the start
// because segments shorter than a second would otherwise collide.
func segmentName(start time.Time, d time.Duration) string {
	b := make([]byte, 0, 40)
	b = start.UTC().AppendFormat(b, "2006/01/02/15/04/05.000")
	b = append(b, '-')
	ms := d.Milliseconds()
	if n := digits(ms); n < 5 {
		b = append(b, "0000"[:5-n]...)
	}
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, ".ts"...)
	return string(b)
}

func digits(v int64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// publish renders the playlist and swaps in a new snapshot for readers. It
// runs once per segment, not per packet, so it may allocate.
func (g *segmenter) publish() {
	segs := append([]*Segment(nil), g.segs...)
	g.s.snap.Store(&snapshot{playlist: g.render(), segs: segs})
}

// render writes the media playlist (RFC 8216) of the finished segments from
// firstMSN on (see window), each with its PROGRAM-DATE-TIME.
func (g *segmenter) render() []byte {
	n := len(g.segs)
	first := 0
	for first < n && g.segs[first].MSN < g.firstMSN {
		first++
	}
	discSeq := g.discGone
	for i := 0; i < first; i++ {
		if g.segs[i].Discontinuity {
			discSeq++
		}
	}
	b := make([]byte, 0, 160+(n-first)*120)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(g.target), 10)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	if first < n {
		b = strconv.AppendUint(b, g.segs[first].MSN, 10)
	} else {
		b = strconv.AppendUint(b, g.msn, 10)
	}
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, discSeq, 10)
	b = append(b, '\n')
	for _, s := range g.segs[first:] {
		if s.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = s.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, "\n#EXTINF:"...)
		b = strconv.AppendFloat(b, s.Duration.Seconds(), 'f', 3, 64)
		b = append(b, ",\n"...)
		b = append(b, s.Name...)
		b = append(b, '\n')
	}
	return b
}
