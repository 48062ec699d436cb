package hlstest

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Playlist is a parsed RFC 8216 media playlist.
type Playlist struct {
	Version               int    // EXT-X-VERSION; 0 when absent (which means 1)
	TargetDuration        int    // EXT-X-TARGETDURATION; 0 when absent
	MediaSequence         uint64 // EXT-X-MEDIA-SEQUENCE (0 when absent)
	DiscontinuitySequence uint64 // EXT-X-DISCONTINUITY-SEQUENCE (0 when absent)
	EndList               bool   // EXT-X-ENDLIST present
	PlaylistType          string // EXT-X-PLAYLIST-TYPE: "", "EVENT" or "VOD"
	// RequiredVersion is the lowest EXT-X-VERSION the features used in the
	// text need (RFC 8216 §7): 3 for decimal EXTINF, 4 for EXT-X-BYTERANGE
	// or EXT-X-I-FRAMES-ONLY, 2 for EXT-X-KEY IV, 5 for KEYFORMAT, 6 for
	// EXT-X-MAP. Set by ParsePlaylist; 0 on a Playlist built by hand.
	RequiredVersion int
	Segments        []Segment
	Raw             []byte // the parsed text (a copy the Playlist owns)
}

// Segment is one media segment of a Playlist.
type Segment struct {
	URI             string
	Duration        float64   // EXTINF, seconds
	Discontinuity   bool      // EXT-X-DISCONTINUITY before it
	ProgramDateTime time.Time // EXT-X-PROGRAM-DATE-TIME; zero if absent
	MSN             uint64    // media sequence number: MediaSequence + index
	// DiscSeq is the segment's discontinuity sequence number:
	// DiscontinuitySequence plus the EXT-X-DISCONTINUITY tags in the
	// playlist up to and including this segment's own.
	DiscSeq uint64
}

// End returns the media sequence number the next segment appended to p
// will have: MediaSequence + len(Segments).
func (p *Playlist) End() uint64 { return p.MediaSequence + uint64(len(p.Segments)) }

// TotalDuration returns the sum of the segments' EXTINF durations.
func (p *Playlist) TotalDuration() float64 {
	var d float64
	for i := range p.Segments {
		d += p.Segments[i].Duration
	}
	return d
}

// Errors that ParsePlaylist, Check and CheckProgression wrap; match them
// with errors.Is. Each returned error carries the detail (line, URI, MSN).
var (
	ErrSyntax                = errors.New("hlstest: malformed playlist")
	ErrTargetDuration        = errors.New("hlstest: EXT-X-TARGETDURATION violation")
	ErrExtinf                = errors.New("hlstest: EXTINF violation")
	ErrNoProgramDateTime     = errors.New("hlstest: segment without EXT-X-PROGRAM-DATE-TIME")
	ErrProgramDateTime       = errors.New("hlstest: EXT-X-PROGRAM-DATE-TIME violation")
	ErrWindow                = errors.New("hlstest: playlist shorter than 3 target durations")
	ErrVersion               = errors.New("hlstest: EXT-X-VERSION too low")
	ErrEndList               = errors.New("hlstest: live playlist ended")
	ErrDuplicateURI          = errors.New("hlstest: URI listed twice")
	ErrMediaSequence         = errors.New("hlstest: media sequence went back")
	ErrMSN                   = errors.New("hlstest: segment changed media sequence number")
	ErrDurationChanged       = errors.New("hlstest: segment changed duration")
	ErrDiscontinuitySequence = errors.New("hlstest: discontinuity sequence violation")
)

// ParsePlaylist parses an RFC 8216 media playlist strictly: it must start
// with #EXTM3U; EXTM3U, EXT-X-VERSION, EXT-X-TARGETDURATION,
// EXT-X-MEDIA-SEQUENCE, EXT-X-DISCONTINUITY-SEQUENCE, EXT-X-ENDLIST,
// EXT-X-PLAYLIST-TYPE, EXTINF, EXT-X-DISCONTINUITY,
// EXT-X-PROGRAM-DATE-TIME and EXT-X-BYTERANGE are validated and a malformed,
// duplicated or misplaced one is an error wrapping ErrSyntax; EXT-X-KEY,
// EXT-X-MAP and EXT-X-I-FRAMES-ONLY only count towards RequiredVersion;
// master playlist tags are an error; other tags and comments are ignored.
// Stricter than the RFC in one place: a PROGRAM-DATE-TIME must carry a time
// zone (Z, ±hh:mm or ±hhmm).
func ParsePlaylist(b []byte) (*Playlist, error) {
	p := &Playlist{Raw: append([]byte(nil), b...)}
	text := string(p.Raw)
	if !strings.HasPrefix(text, "#EXTM3U") {
		return nil, fmt.Errorf("%w: does not start with #EXTM3U", ErrSyntax)
	}
	var (
		seg        Segment // tags for the segment whose URI is still to come
		haveInf    bool
		havePDT    bool
		haveRange  bool
		pending    bool // any segment tag seen since the last URI
		seenTag    = map[string]bool{}
		discNumber uint64
	)
	need := func(v int) {
		if v > p.RequiredVersion {
			p.RequiredVersion = v
		}
	}
	lineNo := 0
	for len(text) > 0 {
		lineNo++
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimSuffix(line, "\r")
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrSyntax, lineNo, fmt.Sprintf(format, args...))
		}
		if lineNo == 1 {
			if line != "#EXTM3U" {
				return nil, fail("first line is %q, want #EXTM3U", line)
			}
			continue
		}
		if line == "" {
			continue
		}
		if line[0] != '#' {
			if strings.TrimSpace(line) != line {
				return nil, fail("URI %q has surrounding white space", line)
			}
			if !haveInf {
				return nil, fail("URI %q without EXTINF", line)
			}
			if seg.Discontinuity {
				discNumber++
			}
			seg.URI = line
			seg.MSN = p.MediaSequence + uint64(len(p.Segments))
			seg.DiscSeq = p.DiscontinuitySequence + discNumber
			p.Segments = append(p.Segments, seg)
			seg, haveInf, havePDT, haveRange, pending = Segment{}, false, false, false, false
			continue
		}
		if !strings.HasPrefix(line, "#EXT") {
			continue // comment
		}
		name, value, hasValue := strings.Cut(line[1:], ":")
		noValue := func() error {
			if hasValue {
				return fail("%s takes no value", name)
			}
			return nil
		}
		once := func() error {
			if seenTag[name] {
				return fail("%s appears twice", name)
			}
			seenTag[name] = true
			return nil
		}
		beforeSegments := func() error {
			if len(p.Segments) > 0 || pending {
				return fail("%s after the first segment", name)
			}
			return nil
		}
		var err error
		switch name {
		case "EXTM3U":
			err = fail("EXTM3U repeated")
		case "EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-MEDIA", "EXT-X-SESSION-DATA", "EXT-X-SESSION-KEY":
			err = fail("%s: a master playlist, not a media playlist", name)
		case "EXT-X-VERSION":
			var v uint64
			if err = once(); err == nil {
				v, err = parseDecimalInt(value)
				if err == nil && (v < 1 || v > 1000) {
					err = errors.New("out of range")
				}
				if err != nil {
					err = fail("EXT-X-VERSION %q: %v", value, err)
				}
				p.Version = int(v)
			}
		case "EXT-X-TARGETDURATION":
			var v uint64
			if err = once(); err == nil {
				v, err = parseDecimalInt(value)
				if err == nil && v > 1<<31-1 {
					err = errors.New("out of range")
				}
				if err != nil {
					err = fail("EXT-X-TARGETDURATION %q: %v", value, err)
				}
				p.TargetDuration = int(v)
			}
		case "EXT-X-MEDIA-SEQUENCE":
			if err = once(); err == nil {
				if err = beforeSegments(); err == nil {
					if p.MediaSequence, err = parseDecimalInt(value); err != nil {
						err = fail("EXT-X-MEDIA-SEQUENCE %q: %v", value, err)
					}
				}
			}
		case "EXT-X-DISCONTINUITY-SEQUENCE":
			if err = once(); err == nil {
				if err = beforeSegments(); err == nil {
					if p.DiscontinuitySequence, err = parseDecimalInt(value); err != nil {
						err = fail("EXT-X-DISCONTINUITY-SEQUENCE %q: %v", value, err)
					}
				}
			}
		case "EXT-X-ENDLIST":
			err = noValue()
			p.EndList = true
		case "EXT-X-PLAYLIST-TYPE":
			if err = once(); err == nil {
				if value != "EVENT" && value != "VOD" {
					err = fail("EXT-X-PLAYLIST-TYPE %q, want EVENT or VOD", value)
				}
				p.PlaylistType = value
			}
		case "EXT-X-I-FRAMES-ONLY":
			err = noValue()
			need(4)
		case "EXTINF":
			if haveInf {
				err = fail("second EXTINF for one segment")
				break
			}
			dur, _, ok := strings.Cut(value, ",")
			if !ok {
				err = fail("EXTINF %q without the comma", value)
				break
			}
			if seg.Duration, err = parseDecimalFloat(dur); err != nil {
				err = fail("EXTINF duration %q: %v", dur, err)
				break
			}
			if strings.Contains(dur, ".") {
				need(3)
			}
			haveInf, pending = true, true
		case "EXT-X-DISCONTINUITY":
			err = noValue()
			seg.Discontinuity, pending = true, true
		case "EXT-X-PROGRAM-DATE-TIME":
			if havePDT {
				err = fail("second EXT-X-PROGRAM-DATE-TIME for one segment")
				break
			}
			if seg.ProgramDateTime, err = parseDateTime(value); err != nil {
				err = fail("EXT-X-PROGRAM-DATE-TIME %q: %v", value, err)
				break
			}
			havePDT, pending = true, true
		case "EXT-X-BYTERANGE":
			if haveRange {
				err = fail("second EXT-X-BYTERANGE for one segment")
				break
			}
			n, o, hasOffset := strings.Cut(value, "@")
			if _, err = parseDecimalInt(n); err == nil && hasOffset {
				_, err = parseDecimalInt(o)
			}
			if err != nil {
				err = fail("EXT-X-BYTERANGE %q: %v", value, err)
				break
			}
			need(4)
			haveRange, pending = true, true
		case "EXT-X-KEY":
			if strings.Contains(value, "IV=") {
				need(2)
			}
			if strings.Contains(value, "KEYFORMAT") {
				need(5)
			}
		case "EXT-X-MAP":
			need(6)
		}
		if err != nil {
			return nil, err
		}
	}
	if pending {
		return nil, fmt.Errorf("%w: segment tags at the end without a URI", ErrSyntax)
	}
	return p, nil
}

// parseDecimalInt parses an RFC 8216 decimal-integer: 1 to 20 digits,
// 0 to 2^64-1.
func parseDecimalInt(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a digit", s[i])
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// parseDecimalFloat parses an RFC 8216 decimal-floating-point: digits with
// at most one '.', no sign, no exponent.
func parseDecimalFloat(s string) (float64, error) {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, fmt.Errorf("%q is not a digit or '.'", c)
		}
	}
	if digits == 0 || dots > 1 {
		return 0, errors.New("not a decimal number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsInf(f, 0) {
		return 0, errors.New("out of range")
	}
	return f, nil
}

// parseDateTime parses an ISO 8601 date-time with a time zone, in the
// forms servers write: 2026-11-26T08:06:37.123Z, …+01:00 or …+0100
// (ffmpeg's hlsenc writes the last).
func parseDateTime(s string) (time.Time, error) {
	var first error
	for _, layout := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700"} {
		t, err := time.Parse(layout, s)
		if err == nil {
			return t, nil
		}
		if first == nil {
			first = err
		}
	}
	return time.Time{}, first
}

// Encode appends p in canonical form to dst: the header tags (EXT-X-VERSION
// only when Version > 0, EXT-X-TARGETDURATION only when > 0,
// EXT-X-DISCONTINUITY-SEQUENCE only when > 0, EXT-X-PLAYLIST-TYPE when set),
// then per segment EXT-X-DISCONTINUITY, EXT-X-PROGRAM-DATE-TIME (RFC 3339,
// nanoseconds), EXTINF and the URI, then EXT-X-ENDLIST. Segment MSN and
// DiscSeq are not written: they follow from the header and the tags. It is
// for building playlists in tests; Raw is ignored.
func (p *Playlist) Encode(dst []byte) []byte {
	dst = append(dst, "#EXTM3U\n"...)
	if p.Version > 0 {
		dst = append(dst, "#EXT-X-VERSION:"...)
		dst = strconv.AppendInt(dst, int64(p.Version), 10)
		dst = append(dst, '\n')
	}
	if p.TargetDuration > 0 {
		dst = append(dst, "#EXT-X-TARGETDURATION:"...)
		dst = strconv.AppendInt(dst, int64(p.TargetDuration), 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, "#EXT-X-MEDIA-SEQUENCE:"...)
	dst = strconv.AppendUint(dst, p.MediaSequence, 10)
	dst = append(dst, '\n')
	if p.DiscontinuitySequence > 0 {
		dst = append(dst, "#EXT-X-DISCONTINUITY-SEQUENCE:"...)
		dst = strconv.AppendUint(dst, p.DiscontinuitySequence, 10)
		dst = append(dst, '\n')
	}
	if p.PlaylistType != "" {
		dst = append(dst, "#EXT-X-PLAYLIST-TYPE:"...)
		dst = append(dst, p.PlaylistType...)
		dst = append(dst, '\n')
	}
	for i := range p.Segments {
		s := &p.Segments[i]
		if s.Discontinuity {
			dst = append(dst, "#EXT-X-DISCONTINUITY\n"...)
		}
		if !s.ProgramDateTime.IsZero() {
			dst = append(dst, "#EXT-X-PROGRAM-DATE-TIME:"...)
			dst = s.ProgramDateTime.AppendFormat(dst, time.RFC3339Nano)
			dst = append(dst, '\n')
		}
		dst = append(dst, "#EXTINF:"...)
		dst = strconv.AppendFloat(dst, s.Duration, 'f', -1, 64)
		dst = append(dst, ",\n"...)
		dst = append(dst, s.URI...)
		dst = append(dst, '\n')
	}
	if p.EndList {
		dst = append(dst, "#EXT-X-ENDLIST\n"...)
	}
	return dst
}

// ResolveURI resolves a segment URI against the URL (or file path) of the
// playlist that names it, as RFC 8216 §4.1 says. A playlistURL without
// "://" is a file path and a relative uri is joined to its directory. When
// either does not parse as a URL it returns uri unchanged.
func ResolveURI(playlistURL, uri string) string {
	if strings.Contains(uri, "://") {
		return uri
	}
	if !strings.Contains(playlistURL, "://") {
		if filepath.IsAbs(uri) {
			return uri
		}
		return filepath.Join(filepath.Dir(playlistURL), uri)
	}
	base, err := url.Parse(playlistURL)
	if err != nil {
		return uri
	}
	ref, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return base.ResolveReference(ref).String()
}
