package packaging

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Output is one way slabcast serves a stream: its manifest and how its
// media URLs are found in it. The benchmark is driven by Outputs: an
// output whose manifest answers 404 (not in this build) is recorded as
// absent and skipped, so outputs being added are measured once they land.
type Output struct {
	Name  string // short name, for -cases and the tables: ts, fmp4, dash, llhls
	Label string // for prose
	// Manifest is the manifest's path, %s the stream's name.
	Manifest string
	// Packaged: made from the TS segment on first request (not the TS
	// itself).
	Packaged bool
	// List reads a manifest fetched from path: its media segments by MSN
	// and its init segments. msns are the MSNs the stream's TS playlist
	// lists, for manifests that do not say which segments exist (a DASH
	// SegmentTemplate without a SegmentTimeline).
	List func(path string, body []byte, msns []uint64) (Listing, error)
	// Linger is how long the daemon goes on working for the output after
	// its last request: part 2 lets that pass before it measures a
	// TS-only window.
	Linger time.Duration
}

// Listing is what a manifest names.
type Listing struct {
	Media []Media
	Inits []string // init segments' paths (fMP4 EXT-X-MAP, DASH Initialization)
}

// Media is one media URL of a segment: for DASH, one per track; for
// LL-HLS, the segment and each of its parts.
type Media struct {
	MSN  uint64 // the TS segment's media sequence number it is made from
	Path string // absolute URL path
	Part bool   // an LL-HLS part
}

// MSNs returns the distinct MSNs of l's media, in order of appearance.
func (l Listing) MSNs() []uint64 {
	var out []uint64
	seen := map[uint64]bool{}
	for _, m := range l.Media {
		if !seen[m.MSN] {
			seen[m.MSN] = true
			out = append(out, m.MSN)
		}
	}
	return out
}

// The outputs: TS HLS (the reference, its segments are what packaging
// reads), fMP4 HLS, MPEG-DASH and Low-Latency HLS.
var (
	OutTS   = Output{Name: "ts", Label: "TS HLS", Manifest: "/%s/index.m3u8", List: listHLS}
	OutFMP4 = Output{Name: "fmp4", Label: "fMP4 HLS", Manifest: "/%s/index.fmp4.m3u8", Packaged: true, List: listHLS}
	OutDASH = Output{Name: "dash", Label: "MPEG-DASH", Manifest: "/%s/index.mpd", Packaged: true, List: listMPD}
	// LL-HLS: a stream's part maker runs on for 30 s after its last LL-HLS
	// request (hls/llhls.go, llIdle), cutting parts of the open segment.
	OutLLHLS = Output{Name: "llhls", Label: "LL-HLS", Manifest: "/%s/index.ll.m3u8", Packaged: true, List: listHLS,
		Linger: 30 * time.Second}
)

// Outputs are every output, TS first.
var Outputs = []Output{OutTS, OutFMP4, OutDASH, OutLLHLS}

// OutputByName returns the output called name.
func OutputByName(name string) (Output, bool) {
	for _, o := range Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return Output{}, false
}

// ManifestPath is o's manifest for stream.
func (o Output) ManifestPath(stream string) string { return fmt.Sprintf(o.Manifest, stream) }

// resolve makes ref, relative to the document at base (an absolute
// path), an absolute path with its query.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("packaging: URI %q: %w", ref, err)
	}
	u := b.ResolveReference(r)
	if u.Host != "" && u.Host != b.Host {
		return "", fmt.Errorf("packaging: URI %q points at another host", ref)
	}
	p := u.EscapedPath()
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p, nil
}

// listHLS reads an HLS media playlist (TS, fMP4 or LL-HLS): segment URIs
// numbered from EXT-X-MEDIA-SEQUENCE, EXT-X-MAP init URIs, and EXT-X-PART
// URIs, which belong to the segment line after them (parts after the last
// segment line belong to a segment not finished, and are left out).
func listHLS(path string, body []byte, _ []uint64) (Listing, error) {
	var l Listing
	var msn uint64
	var parts []string
	seenInit := map[string]bool{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			n, err := strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
			if err != nil {
				return l, fmt.Errorf("packaging: %s: %q", path, line)
			}
			msn = n
		case strings.HasPrefix(line, "#EXT-X-MAP:"), strings.HasPrefix(line, "#EXT-X-PART:"):
			uri, ok := attr(line, "URI")
			if !ok {
				return l, fmt.Errorf("packaging: %s: no URI in %q", path, line)
			}
			p, err := resolve(path, uri)
			if err != nil {
				return l, err
			}
			if strings.HasPrefix(line, "#EXT-X-PART:") {
				parts = append(parts, p)
			} else if !seenInit[p] {
				seenInit[p] = true
				l.Inits = append(l.Inits, p)
			}
		case line[0] == '#':
		default:
			p, err := resolve(path, line)
			if err != nil {
				return l, err
			}
			for _, q := range parts {
				l.Media = append(l.Media, Media{MSN: msn, Path: q, Part: true})
			}
			parts = parts[:0]
			l.Media = append(l.Media, Media{MSN: msn, Path: p})
			msn++
		}
	}
	if len(l.Media) == 0 {
		return l, fmt.Errorf("packaging: %s lists no segment", path)
	}
	return l, nil
}

// attr returns the quoted or plain value of attribute k in an HLS tag line.
func attr(line, k string) (string, bool) {
	_, list, ok := strings.Cut(line, ":")
	if !ok {
		return "", false
	}
	for list != "" {
		name, rest, ok := strings.Cut(list, "=")
		if !ok {
			return "", false
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", false
			}
			v, rest = rest[1:1+end], rest[2+end:]
			rest = strings.TrimPrefix(rest, ",")
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		if strings.TrimSpace(name) == k {
			return v, true
		}
		list = rest
	}
	return "", false
}

// The parts of an MPD the benchmark reads: BaseURLs at every level and
// SegmentTemplates on adaptation sets or representations, with or without
// a SegmentTimeline.
type mpdDoc struct {
	BaseURL []string    `xml:"BaseURL"`
	Periods []mpdPeriod `xml:"Period"`
}

type mpdPeriod struct {
	ID      string   `xml:"id,attr"`
	BaseURL []string `xml:"BaseURL"`
	Sets    []mpdSet `xml:"AdaptationSet"`
}

type mpdSet struct {
	BaseURL  []string     `xml:"BaseURL"`
	Template *mpdTemplate `xml:"SegmentTemplate"`
	Reps     []mpdRep     `xml:"Representation"`
}

type mpdRep struct {
	ID        string       `xml:"id,attr"`
	Bandwidth string       `xml:"bandwidth,attr"`
	BaseURL   []string     `xml:"BaseURL"`
	Template  *mpdTemplate `xml:"SegmentTemplate"`
}

type mpdTemplate struct {
	Media          string       `xml:"media,attr"`
	Initialization string       `xml:"initialization,attr"`
	StartNumber    *uint64      `xml:"startNumber,attr"`
	Timeline       *mpdTimeline `xml:"SegmentTimeline"`
}

type mpdTimeline struct {
	S []struct {
		T *uint64 `xml:"t,attr"`
		D uint64  `xml:"d,attr"`
		R int64   `xml:"r,attr"`
	} `xml:"S"`
}

// listMPD reads a DASH MPD: every representation's media and init URLs
// from its SegmentTemplate ($RepresentationID$, $Number$ with or without a
// width, $Time$, $Bandwidth$, $$). Numbers come from the SegmentTimeline
// (startNumber on), or, without one, are the TS playlist's MSNs (slabcast
// numbers DASH segments by MSN).
func listMPD(path string, body []byte, msns []uint64) (Listing, error) {
	var l Listing
	var doc mpdDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		return l, fmt.Errorf("packaging: %s: %w", path, err)
	}
	base := path
	var err error
	rebase := func(b string, urls []string) string {
		if len(urls) == 0 || err != nil {
			return b
		}
		var r string
		r, err = resolve(b, strings.TrimSpace(urls[0]))
		return r
	}
	base = rebase(base, doc.BaseURL)
	seenInit := map[string]bool{}
	for _, p := range doc.Periods {
		pb := rebase(base, p.BaseURL)
		for _, s := range p.Sets {
			sb := rebase(pb, s.BaseURL)
			for _, r := range s.Reps {
				rb := rebase(sb, r.BaseURL)
				if err != nil {
					return l, fmt.Errorf("packaging: %s: BaseURL: %w", path, err)
				}
				t := r.Template
				if t == nil {
					t = s.Template
				}
				if t == nil || t.Media == "" {
					return l, fmt.Errorf("packaging: %s: representation %q has no SegmentTemplate@media", path, r.ID)
				}
				fill := func(tmpl string, number, time uint64) (string, error) {
					u, err := expand(tmpl, r.ID, r.Bandwidth, number, time)
					if err != nil {
						return "", fmt.Errorf("packaging: %s: %w", path, err)
					}
					return resolve(rb, u)
				}
				if t.Initialization != "" {
					ip, err := fill(t.Initialization, 0, 0)
					if err != nil {
						return l, err
					}
					if !seenInit[ip] {
						seenInit[ip] = true
						l.Inits = append(l.Inits, ip)
					}
				}
				number := uint64(1)
				if t.StartNumber != nil {
					number = *t.StartNumber
				}
				if t.Timeline == nil {
					for _, n := range msns {
						mp, err := fill(t.Media, n, 0)
						if err != nil {
							return l, err
						}
						l.Media = append(l.Media, Media{MSN: n, Path: mp})
					}
					continue
				}
				var at uint64
				for _, s := range t.Timeline.S {
					if s.T != nil {
						at = *s.T
					}
					if s.R < 0 {
						return l, fmt.Errorf("packaging: %s: open-ended S@r is not read", path)
					}
					for range s.R + 1 {
						mp, err := fill(t.Media, number, at)
						if err != nil {
							return l, err
						}
						l.Media = append(l.Media, Media{MSN: number, Path: mp})
						number++
						at += s.D
					}
				}
			}
		}
	}
	if len(l.Media) == 0 {
		return l, fmt.Errorf("packaging: %s lists no segment", path)
	}
	return l, nil
}

// expand fills a DASH SegmentTemplate's identifiers.
func expand(tmpl, id, bandwidth string, number, time uint64) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '$')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i+1:], '$')
		if j < 0 {
			return "", fmt.Errorf("template %q: unclosed $", tmpl)
		}
		ident := tmpl[i+1 : i+1+j]
		tmpl = tmpl[i+2+j:]
		name, format, _ := strings.Cut(ident, "%")
		var v string
		switch name {
		case "":
			v = "$"
		case "RepresentationID":
			v = id
		case "Bandwidth":
			v = bandwidth
		case "Number", "Time":
			n := number
			if name == "Time" {
				n = time
			}
			v = strconv.FormatUint(n, 10)
			if format != "" {
				w, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(format, "0"), "d"))
				if err != nil || !strings.HasSuffix(format, "d") {
					return "", fmt.Errorf("template %q: format %q", tmpl, format)
				}
				for len(v) < w {
					v = "0" + v
				}
			}
		default:
			return "", fmt.Errorf("template identifier $%s$", ident)
		}
		b.WriteString(v)
	}
}
