package hlstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxBody bounds what Fetch reads; a playlist or a test segment is far
// smaller.
const maxBody = 64 << 20

// fetchTimeout bounds one request when the caller's context has no sooner
// deadline.
const fetchTimeout = 15 * time.Second

// client talks to the daemon under test directly, never through a proxy
// named by the environment.
var client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}

// Fetch GETs url and returns the body and the response header. Any status
// but 200 is an error naming it (the body is still returned).
func Fetch(ctx context.Context, url string) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("hlstest: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("hlstest: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, resp.Header, fmt.Errorf("hlstest: GET %s: %w", url, err)
	}
	if len(body) > maxBody {
		return nil, resp.Header, fmt.Errorf("hlstest: GET %s: body over %d bytes", url, maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		return body, resp.Header, fmt.Errorf("hlstest: GET %s: %s", url, resp.Status)
	}
	return body, resp.Header, nil
}

// FetchPlaylist GETs url and parses it with ParsePlaylist.
func FetchPlaylist(ctx context.Context, url string) (*Playlist, error) {
	b, _, err := Fetch(ctx, url)
	if err != nil {
		return nil, err
	}
	p, err := ParsePlaylist(b)
	if err != nil {
		return nil, fmt.Errorf("hlstest: GET %s: %w\n%s", url, err, b)
	}
	return p, nil
}

// Watch is Rules{}.Watch.
func Watch(ctx context.Context, url string, interval time.Duration, n int) ([]*Playlist, error) {
	return Rules{}.Watch(ctx, url, interval, n)
}

// Watch fetches the playlist at url every interval until n distinct segment
// URIs have been seen or ctx ends, applying r.Check to every fetch and
// CheckProgression to every pair of successive fetches. It stops at the
// first fetch that fails or breaks a rule; the error then carries both
// playlists' text. It returns every playlist fetched, and an error wrapping
// ctx's error when ctx ended before n segments were seen.
func (r Rules) Watch(ctx context.Context, url string, interval time.Duration, n int) ([]*Playlist, error) {
	var out []*Playlist
	seen := make(map[string]bool)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("hlstest: watching %s: saw %d of %d segments in %d fetches: %w", url, len(seen), n, len(out), ctx.Err())
		case <-t.C:
		}
		p, err := FetchPlaylist(ctx, url)
		if err != nil {
			if ctx.Err() != nil {
				return out, fmt.Errorf("hlstest: watching %s: saw %d of %d segments in %d fetches: %w", url, len(seen), n, len(out), ctx.Err())
			}
			return out, fmt.Errorf("hlstest: watching %s, fetch %d: %w", url, len(out)+1, err)
		}
		out = append(out, p)
		errs := []error{r.Check(p)}
		var prevRaw []byte
		if len(out) > 1 {
			prev := out[len(out)-2]
			errs = append(errs, CheckProgression(prev, p))
			prevRaw = prev.Raw
		}
		if err := errors.Join(errs...); err != nil {
			return out, fmt.Errorf("hlstest: watching %s, fetch %d: %w\n--- previous fetch:\n%s--- this fetch:\n%s", url, len(out), err, prevRaw, p.Raw)
		}
		for i := range p.Segments {
			seen[p.Segments[i].URI] = true
		}
		if len(seen) >= n {
			return out, nil
		}
		t.Reset(interval)
	}
}
