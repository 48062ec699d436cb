// Package m3u8 writes HLS media playlists (RFC 8216) and names the segments
// they list. It knows nothing of where segments come from: package hls turns
// a stream's published timeline into a Media and serves what AppendMedia
// writes. Its sibling formats (fMP4 HLS, LL-HLS, DASH) are packages beside
// it under hls/.
//
// Functions append to a caller's buffer and keep no state; they are safe for
// concurrent use. ParseSegmentName allocates nothing, so the HTTP router can
// use it on every request.
package m3u8

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Segment is one entry of a media playlist.
type Segment struct {
	Start         time.Time     // EXT-X-PROGRAM-DATE-TIME; with Duration and PTS, it names the segment
	PTS           uint64        // the start PTS (33 bits), in its name
	Duration      time.Duration // EXTINF
	Discontinuity bool          // preceded by EXT-X-DISCONTINUITY
	// Key is the URI of the segment's AES-128 key, "" for a segment in the
	// clear. A key differing from the previous segment's gets an
	// EXT-X-KEY; with IV set, every segment does, with its IV.
	Key string
	IV  *[16]byte
	// Parts are its LL-HLS partial segments (EXT-X-PART), listed before
	// it; Map, when set, is the URI of the EXT-X-MAP that precedes it
	// (default: its own fMP4 init name).
	Parts []Part
	Map   string
}

// Part is a Low-Latency HLS partial segment.
type Part struct {
	URI         string
	Duration    time.Duration
	Independent bool // starts with a sync sample
}

// Media is a live media playlist.
type Media struct {
	Target                int    // EXT-X-TARGETDURATION, seconds
	MediaSequence         uint64 // of the first segment listed
	DiscontinuitySequence uint64
	Segments              []Segment
	// Query, when set, goes after every segment URI and every key URI
	// ("token=abc": a playback token carried on).
	Query string
	// FMP4 lists the segments' fMP4 forms (NAME.m4s) with an EXT-X-MAP
	// (NAME.init.mp4, of the segment it precedes) before the first and
	// after each discontinuity, where codecs or parameters may change.
	FMP4 bool
	// PartTarget, when set, makes a Low-Latency HLS playlist (version 9,
	// fMP4): EXT-X-PART-INF, EXT-X-SERVER-CONTROL with blocking reload
	// and PART-HOLD-BACK of three part targets, each segment's Parts;
	// then Open, the segment being written (its PDT and parts, no
	// EXTINF), and PreloadHint, the URI of the part to come.
	PartTarget  time.Duration
	Open        *Segment
	PreloadHint string
}

// AppendMedia appends the playlist m to b: version 3, independent segments,
// each segment with its PROGRAM-DATE-TIME and its name (AppendSegmentName)
// as the URI, relative to the playlist.
func AppendMedia(b []byte, m *Media) []byte {
	fmp4 := m.FMP4 || m.PartTarget > 0
	switch {
	case m.PartTarget > 0:
		b = append(b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	case fmp4:
		b = append(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	default:
		b = append(b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	}
	b = strconv.AppendInt(b, int64(m.Target), 10)
	if m.PartTarget > 0 {
		b = append(b, "\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="...)
		b = strconv.AppendFloat(b, 3*m.PartTarget.Seconds(), 'f', 3, 64)
		b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
		b = strconv.AppendFloat(b, m.PartTarget.Seconds(), 'f', 3, 64)
	}
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, m.MediaSequence, 10)
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, m.DiscontinuitySequence, 10)
	b = append(b, '\n')
	key := ""
	for i := range m.Segments {
		s := &m.Segments[i]
		if s.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if s.Key != key || s.Key != "" && (i == 0 || s.IV != nil) {
			b = appendKey(b, s, m.Query)
			key = s.Key
		}
		if fmp4 && (i == 0 || s.Discontinuity) {
			b = appendMap(b, s, m.Query)
		}
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = s.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, '\n')
		b = appendParts(b, s.Parts, m.Query)
		b = append(b, "#EXTINF:"...)
		b = strconv.AppendFloat(b, s.Duration.Seconds(), 'f', 3, 64)
		b = append(b, ",\n"...)
		if fmp4 {
			b = appendFMP4Name(b, s, ".m4s")
		} else {
			b = AppendSegmentName(b, s.Start, s.Duration, s.PTS)
		}
		if m.Query != "" {
			b = append(b, '?')
			b = append(b, m.Query...)
		}
		b = append(b, '\n')
	}
	if o := m.Open; o != nil && m.PartTarget > 0 {
		if o.Discontinuity && len(m.Segments) > 0 {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if o.Discontinuity || len(m.Segments) == 0 {
			b = appendMap(b, o, m.Query)
		}
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = o.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, '\n')
		b = appendParts(b, o.Parts, m.Query)
	}
	if m.PreloadHint != "" {
		b = append(b, `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="`...)
		b = appendURI(b, m.PreloadHint, m.Query)
		b = append(b, "\"\n"...)
	}
	return b
}

// appendMap appends the EXT-X-MAP line that precedes segment s.
func appendMap(b []byte, s *Segment, query string) []byte {
	b = append(b, `#EXT-X-MAP:URI="`...)
	if s.Map != "" {
		b = append(b, s.Map...)
	} else {
		b = appendFMP4Name(b, s, ".init.mp4")
	}
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	return append(b, "\"\n"...)
}

// appendParts appends EXT-X-PART lines.
func appendParts(b []byte, parts []Part, query string) []byte {
	for _, p := range parts {
		b = append(b, "#EXT-X-PART:DURATION="...)
		b = strconv.AppendFloat(b, p.Duration.Seconds(), 'f', 5, 64)
		b = append(b, `,URI="`...)
		b = appendURI(b, p.URI, query)
		if p.Independent {
			b = append(b, `",INDEPENDENT=YES`...)
		} else {
			b = append(b, '"')
		}
		b = append(b, '\n')
	}
	return b
}

// appendURI appends uri with the query, if any.
func appendURI(b []byte, uri, query string) []byte {
	b = append(b, uri...)
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	return b
}

// appendFMP4Name appends segment s's name with ext in place of ".ts".
func appendFMP4Name(b []byte, s *Segment, ext string) []byte {
	b = AppendSegmentName(b, s.Start, s.Duration, s.PTS)
	return append(b[:len(b)-len(".ts")], ext...)
}

// appendKey appends the EXT-X-KEY line of segment s (RFC 8216 4.3.2.4).
func appendKey(b []byte, s *Segment, query string) []byte {
	if s.Key == "" {
		return append(b, "#EXT-X-KEY:METHOD=NONE\n"...)
	}
	b = append(b, `#EXT-X-KEY:METHOD=AES-128,URI="`...)
	b = append(b, s.Key...)
	if query != "" {
		if strings.Contains(s.Key, "?") {
			b = append(b, '&')
		} else {
			b = append(b, '?')
		}
		b = append(b, query...)
	}
	b = append(b, '"')
	if s.IV != nil {
		b = append(b, ",IV=0x"...)
		b = hex.AppendEncode(b, s.IV[:])
	}
	return append(b, '\n')
}

// AppendSegmentName appends a segment's path below its stream, Flussonic
// style: the UTC start time with milliseconds, then the duration in
// milliseconds, at least five digits, then the start PTS (33 bits):
// 2026/11/26/08/06/37.250-02000-123456789.ts. They come from the media
// timeline and the clock, so a name is never reused, across restarts too,
// and an edge cache may keep it forever. Milliseconds are part of the
// start because segments shorter than a second would otherwise collide;
// the PTS because two origins whose clocks place the source a second
// apart would otherwise give one name to two segments (pipeline's media
// clock): with it a name stands for one stretch of the source's media
// wherever it is fetched.
func AppendSegmentName(b []byte, start time.Time, d time.Duration, pts uint64) []byte {
	b = start.UTC().AppendFormat(b, "2006/01/02/15/04/05.000")
	b = append(b, '-')
	ms := d.Milliseconds()
	if n := digits(ms); n < 5 {
		b = append(b, "0000"[:5-n]...)
	}
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, pts, 10)
	return append(b, ".ts"...)
}

// SegmentName is AppendSegmentName as a string.
func SegmentName(start time.Time, d time.Duration, pts uint64) string {
	return string(AppendSegmentName(make([]byte, 0, 52), start, d, pts))
}

func digits(v int64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// ParseSegmentName reads a name AppendSegmentName wrote: the start as Unix
// milliseconds, the duration in milliseconds and the start PTS. Only the
// exact spelling AppendSegmentName gives is accepted, so one segment has
// one name.
func ParseSegmentName(name []byte) (startMs, durMs int64, pts uint64, ok bool) {
	// 2026/11/26/08/06/37.250-02000-123456789.ts: 23 bytes of time, '-',
	// 5+ digits, '-', 1 to 10 digits, ".ts".
	const timeLen = len("2006/01/02/15/04/05.000")
	if len(name) < timeLen+1+5+1+1+3 || len(name) > timeLen+1+12+1+10+3 || name[timeLen] != '-' ||
		string(name[len(name)-3:]) != ".ts" {
		return 0, 0, 0, false
	}
	var f [7]int // year, month, day, hour, minute, second, millisecond
	widths := [7]int{4, 2, 2, 2, 2, 2, 3}
	seps := [7]byte{'/', '/', '/', '/', '/', '.', '-'}
	i := 0
	for k, w := range widths {
		v, good := number(name[i : i+w])
		if !good || name[i+w] != seps[k] {
			return 0, 0, 0, false
		}
		f[k] = v
		i += w + 1
	}
	rest := name[i : len(name)-3]
	dash := bytes.IndexByte(rest, '-')
	if dash < 0 {
		return 0, 0, 0, false
	}
	dur, good := number(rest[:dash])
	p, good2 := number(rest[dash+1:])
	if !good || !good2 || uint64(p) >= 1<<33 {
		return 0, 0, 0, false
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*int(time.Millisecond), time.UTC)
	// A date that time.Date normalised (month 13, second 61) or a number
	// with extra leading zeros is not a name AppendSegmentName gives.
	var buf [64]byte
	if string(AppendSegmentName(buf[:0], t, time.Duration(dur)*time.Millisecond, uint64(p))) != string(name) {
		return 0, 0, 0, false
	}
	return t.UnixMilli(), int64(dur), uint64(p), true
}

// number parses decimal digits (at most 12).
func number(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
