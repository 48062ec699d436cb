package edge

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// viewers are n simulated players of one playlist: each polls it once a
// segment duration (their first polls spread evenly over one) and fetches
// every segment listed since its previous poll, starting from the newest
// at its first, reading every body to its end.
type viewers struct {
	playlist string // absolute URL
	segDur   time.Duration
	client   *http.Client

	mu  sync.Mutex
	tot Viewed
}

func newViewers(playlist string, n int, segDur time.Duration) *viewers {
	return &viewers{playlist: playlist, segDur: segDur, client: &http.Client{
		Timeout: 3 * segDur,
		Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: n + 8,
			IdleConnTimeout: time.Minute}}}
}

// run plays n viewers until ctx ends.
func (v *viewers) run(ctx context.Context, n int) {
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() { v.viewer(ctx, start.Add(time.Duration(i)*v.segDur/time.Duration(n))) })
	}
	wg.Wait()
	v.client.CloseIdleConnections()
}

// total returns the counts so far (Latency shared: read it only).
func (v *viewers) total() Viewed {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.tot
	t.Latency = t.Latency[:len(t.Latency):len(t.Latency)]
	return t
}

func (v *viewers) fail(err error) {
	v.mu.Lock()
	v.tot.Errors++
	if v.tot.FirstError == "" {
		v.tot.FirstError = err.Error()
	}
	v.mu.Unlock()
}

// viewer is one player: its first poll at first, then one a segment
// duration. A poll that comes later than its turn (the previous poll's
// segments took longer than a segment duration to fetch) is counted
// Late, and the turns move on from it.
func (v *viewers) viewer(ctx context.Context, first time.Time) {
	next := first
	var last uint64 // the newest segment fetched; 0 before the first poll
	var base string
	if i := strings.LastIndexByte(v.playlist, '/'); i >= 0 {
		base = v.playlist[:i+1]
	}
	for {
		wait := time.Until(next)
		if wait < -v.segDur/10 {
			v.mu.Lock()
			v.tot.Late++
			v.mu.Unlock()
			next = time.Now()
		} else if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			return
		}
		next = next.Add(v.segDur)
		body, err := v.get(ctx, v.playlist)
		if err != nil {
			if ctx.Err() == nil {
				v.fail(err)
			}
			continue
		}
		v.mu.Lock()
		v.tot.Polls++
		v.tot.Bytes += int64(len(body))
		v.mu.Unlock()
		segs, err := parseMedia(body)
		if err != nil {
			v.fail(err)
			continue
		}
		for i, s := range segs {
			if s.msn <= last || (last == 0 && i < len(segs)-1) {
				continue
			}
			t0 := time.Now()
			n, err := v.fetch(ctx, base+s.uri)
			if err != nil {
				if ctx.Err() == nil {
					v.fail(err)
				}
				break
			}
			d := time.Since(t0)
			last = s.msn
			v.mu.Lock()
			v.tot.Segments++
			v.tot.Bytes += n
			v.tot.Latency = append(v.tot.Latency, d)
			v.mu.Unlock()
		}
	}
}

// get fetches a small body (a playlist) whole.
func (v *viewers) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// fetch reads a segment to its end and returns its length.
func (v *viewers) fetch(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, nil
}

// media is one segment of a playlist.
type media struct {
	msn uint64
	uri string
}

// parseMedia reads a media playlist's segments: EXT-X-MEDIA-SEQUENCE and
// the URI lines after it.
func parseMedia(b []byte) ([]media, error) {
	var seq uint64
	var out []media
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			n, err := strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("edge: playlist: %q", line)
			}
			seq = n
		case line == "" || line[0] == '#':
		default:
			out = append(out, media{seq + uint64(len(out)), line})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("edge: playlist lists no segment: %.200q", b)
	}
	return out, nil
}
