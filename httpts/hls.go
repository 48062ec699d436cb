package httpts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/ts"
)

// HLS pull: the hls:// input follows another server's live HLS playlist
// (MPEG-TS segments) and hands the segments' bytes on in order, as if they
// were one endless TS: the playlist is polled every half target duration,
// each new segment is fetched once, a gap (segments gone before they were
// fetched), a media sequence that goes back (the origin restarted) and an
// EXT-X-DISCONTINUITY are each a new source.

// HLSURL returns the http:// URL of an hls:// input's playlist, and
// whether input is one.
func HLSURL(input string) (string, bool) {
	scheme, rest, ok := strings.Cut(input, "://")
	if !ok || !strings.EqualFold(scheme, "hls") {
		return "", false
	}
	return "http://" + rest, true
}

// Bounds on what an origin may send.
const (
	maxPlaylist = 1 << 20  // bytes of a playlist
	maxSegment  = 64 << 20 // bytes of a segment
	liveEdge    = 3        // segments back from the end where a pull starts
)

// media is what PullHLS reads of a playlist.
type media struct {
	target   time.Duration
	seq      uint64
	segs     []mediaSeg
	end      bool
	variants []string // a master playlist's variant URIs, in order
}

type mediaSeg struct {
	uri  string
	disc bool
}

// parseMedia reads an HLS playlist, media or master (RFC 8216 §4), as far
// as a puller needs: the target duration, the media sequence, the segment
// URIs with their discontinuities, ENDLIST, and a master's variants.
func parseMedia(b []byte) (media, error) {
	var m media
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxPlaylist)
	first := true
	disc, variant := false, false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			if line != "#EXTM3U" {
				return m, errors.New("httpts: not an HLS playlist (no #EXTM3U)")
			}
			first = false
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			n, err := strconv.ParseFloat(strings.TrimPrefix(line, "#EXT-X-TARGETDURATION:"), 64)
			if err != nil || n <= 0 || n > 3600 {
				return m, fmt.Errorf("httpts: bad %q", line)
			}
			m.target = time.Duration(n * float64(time.Second))
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			n, err := strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
			if err != nil {
				return m, fmt.Errorf("httpts: bad %q", line)
			}
			m.seq = n
		case line == "#EXT-X-DISCONTINUITY":
			disc = true
		case line == "#EXT-X-ENDLIST":
			m.end = true
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			variant = true
		case strings.HasPrefix(line, "#"):
		case variant:
			m.variants = append(m.variants, line)
			variant = false
		default:
			m.segs = append(m.segs, mediaSeg{uri: line, disc: disc})
			disc = false
		}
		if len(m.segs) > 10000 || len(m.variants) > 1000 {
			return m, errors.New("httpts: playlist too long")
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("httpts: playlist: %w", err)
	}
	if first {
		return m, errors.New("httpts: empty playlist")
	}
	if len(m.segs) > 0 && m.target == 0 {
		return m, errors.New("httpts: media playlist without EXT-X-TARGETDURATION")
	}
	return m, nil
}

// PullHLS follows the live playlist of an hls:// input and feeds each new
// segment's bytes to f, which calls emit with runs of whole packets;
// newSource runs before bytes that do not continue what came before. It
// returns, as Pull does, an *Error, ctx's error, or emit's, when the origin
// fails, stalls for longer than stall, or ends the stream.
func PullHLS(ctx context.Context, input string, stall time.Duration, f *ts.Framer, emit func([]byte) error, newSource func() error) error {
	plURL, ok := HLSURL(input)
	if !ok {
		return &Error{"connect", fmt.Errorf("httpts: %s is not an hls:// URL", input)}
	}
	var next uint64
	have, fetchedAny := false, false // a first playlist read; a segment fetched
	lastNew := time.Now()
	for hops := 0; ; {
		body, err := fetch(ctx, plURL, stall, maxPlaylist)
		if err != nil {
			return err
		}
		m, perr := parseMedia(body)
		if perr != nil {
			return &Error{"not_ts", fmt.Errorf("httpts: GET %s: %w", plURL, perr)}
		}
		if len(m.segs) == 0 && len(m.variants) > 0 {
			if hops++; hops > 3 {
				return &Error{"not_ts", fmt.Errorf("httpts: GET %s: master playlists nested too deep", plURL)}
			}
			plURL = resolve(plURL, m.variants[0]) // the first variant, as players start
			continue
		}
		n := uint64(len(m.segs))
		switch {
		case !have:
			next = m.seq + n - min(n, liveEdge)
			have = true
		case next < m.seq || next > m.seq+n:
			// Fell behind (what was next is gone), or the sequence went
			// back (the origin restarted): what follows does not continue.
			if err := newSource(); err != nil {
				return err
			}
			next = m.seq + n - min(n, liveEdge)
		}
		fetched := 0
		for i, s := range m.segs {
			msn := m.seq + uint64(i)
			if msn < next {
				continue
			}
			if s.disc && fetchedAny {
				if err := newSource(); err != nil {
					return err
				}
			}
			if err := pullSegment(ctx, resolve(plURL, s.uri), stall, f, emit); err != nil {
				return err
			}
			next, fetched, fetchedAny = msn+1, fetched+1, true
			lastNew = time.Now()
		}
		if m.end && next >= m.seq+n {
			return &Error{"read", fmt.Errorf("httpts: GET %s: the stream ended (EXT-X-ENDLIST)", plURL)}
		}
		if time.Since(lastNew) > stall+m.target {
			return &Error{"read", fmt.Errorf("httpts: GET %s: no new segment for %v", plURL, time.Since(lastNew).Round(time.Millisecond))}
		}
		if fetched == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(max(m.target/2, 100*time.Millisecond)):
			}
		}
	}
}

// pullSegment fetches one segment into f.
func pullSegment(ctx context.Context, u string, stall time.Duration, f *ts.Framer, emit func([]byte) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second+stall)
	defer cancel()
	resp, err := get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 32<<10)
	var seen int64
	framed := false
	emitted := func(run []byte) error { framed = true; return emit(run) }
	r := io.LimitReader(resp.Body, maxSegment)
	for {
		n, rerr := r.Read(buf)
		seen += int64(n)
		if n > 0 {
			if err := f.Feed(buf[:n], emitted); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			if !framed && seen > 0 {
				return &Error{"not_ts", fmt.Errorf("httpts: GET %s: %d bytes and not one MPEG-TS packet", u, seen)}
			}
			return f.Flush(emit)
		}
		if rerr != nil {
			if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &Error{"read", fmt.Errorf("httpts: GET %s: too slow", u)}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &Error{"read", fmt.Errorf("httpts: GET %s: %w", u, rerr)}
		}
	}
}

// fetch GETs a small document whole.
func fetch(ctx context.Context, u string, stall time.Duration, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, stall+5*time.Second)
	defer cancel()
	resp, err := get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, &Error{"read", fmt.Errorf("httpts: GET %s: %w", u, err)}
	case int64(len(b)) > limit:
		return nil, &Error{"not_ts", fmt.Errorf("httpts: GET %s: over %d bytes", u, limit)}
	}
	return b, nil
}

// get starts a GET and checks its status.
func get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &Error{"connect", err}
	}
	req.Header.Set("User-Agent", "slabcast")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, &Error{"connect", err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &Error{"status", fmt.Errorf("httpts: GET %s: %s", u, resp.Status)}
	}
	return resp, nil
}

// resolve makes ref absolute against base (RFC 3986), as a player does.
func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}
