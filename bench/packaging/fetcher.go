package packaging

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// fetcher is part 2's load: a goroutine per channel polls the TS playlist
// twice a segment duration and fetches each new segment once as TS; in
// mode All it also polls every packaged output's manifest and fetches
// every media and init URL they list, once (see channel).
type fetcher struct {
	base   string
	names  []string
	outs   []Output // packaged outputs in use
	segDur time.Duration
	client *http.Client
	mode   atomic.Uint32 // a Kind
	// poll is held (read) through each channel's poll; setMode takes it
	// (write), so a mode starts and ends on poll boundaries.
	poll sync.RWMutex

	mu   sync.Mutex
	tot  Fetched
	pack []packed // packaged bodies fetched, for what the daemon holds
}

// packed is a packaged body fetched at a time.
type packed struct {
	at time.Time
	n  int64
}

func newFetcher(base string, names []string, outs []Output, segDur time.Duration) *fetcher {
	return &fetcher{base: base, names: names, outs: outs, segDur: segDur,
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: len(names) + 4, DisableCompression: true}},
		tot: Fetched{ByOutput: map[string]int64{}, ByOutputReqs: map[string]int{}}}
}

// setMode switches the mode, and the packaged outputs mode All fetches,
// once every poll under way has ended, so no poll of the old mode runs
// into a window of the new one.
func (f *fetcher) setMode(k Kind, outs []Output) {
	f.poll.Lock()
	f.mode.Store(uint32(k))
	f.outs = outs
	f.poll.Unlock()
}

// total returns the counts so far.
func (f *fetcher) total() Fetched {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tot
	t.ByOutput, t.ByOutputReqs = map[string]int64{}, map[string]int{}
	for k, v := range f.tot.ByOutput {
		t.ByOutput[k] = v
	}
	for k, v := range f.tot.ByOutputReqs {
		t.ByOutputReqs[k] = v
	}
	return t
}

// held is the packaged bytes fetched within the last d.
func (f *fetcher) held(d time.Duration) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	since := time.Now().Add(-d)
	for _, p := range f.pack {
		if p.at.After(since) {
			n += p.n
		}
	}
	return n
}

func (f *fetcher) count(fn func(t *Fetched)) {
	f.mu.Lock()
	fn(&f.tot)
	f.mu.Unlock()
}

func (f *fetcher) fail(err error) {
	f.count(func(t *Fetched) {
		t.Errors++
		if t.FirstError == "" {
			t.FirstError = err.Error()
		}
	})
}

func (f *fetcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, n := range f.names {
		wg.Go(func() { f.channel(ctx, n) })
	}
	wg.Wait()
}

// channel polls one channel until ctx ends. In both modes it fetches
// each new TS segment once. In mode All it also polls every packaged
// output's manifest and fetches each media and init path listed that it
// has not fetched before, as viewers of every output would; the TS
// segments those manifests cover (those the TS playlist lists) count as
// packaged, each once. Mode TSOnly does not poll the packaged outputs'
// manifests at all: rendering a manifest may package what it lists (the
// MPD's timeline needs each segment's packaged spans), so only B pays
// any of it. An A window is longer than a playlist, so the segments a B
// window's first poll finds listed were new in the A window before it and
// packaged by nobody yet: the B window packages them, as a viewer joining
// then would.
func (f *fetcher) channel(ctx context.Context, name string) {
	var last uint64
	started := false
	seen := map[string]bool{}    // packaged paths fetched
	sizes := map[uint64]int64{}  // TS bytes by MSN
	counted := map[uint64]bool{} // MSNs counted as packaged
	tick := time.NewTicker(f.segDur / 2)
	defer tick.Stop()
	for {
		f.poll.RLock()
		mode := Kind(f.mode.Load())
		tsPath := OutTS.ManifestPath(name)
		tsBody, err := f.getOK(ctx, tsPath)
		var ts Listing
		if err == nil {
			ts, err = listHLS(tsPath, tsBody, nil)
		}
		f.count(func(t *Fetched) {
			t.Manifests++
			if err != nil {
				t.ManifestErrors++
			}
		})
		if err == nil {
			for _, m := range ts.Media {
				if started && m.MSN <= last {
					continue
				}
				last = max(last, m.MSN)
				if !started {
					continue // what the first poll lists is not new
				}
				if _, err := f.tsSegment(ctx, m, sizes); err != nil {
					f.fail(err)
				}
			}
			if started && mode == All && len(f.outs) > 0 {
				f.allOutputs(ctx, name, ts, seen, sizes, counted)
			}
			started = true
			for msn := range sizes {
				if msn+64 < last {
					delete(sizes, msn)
					delete(counted, msn)
				}
			}
		}
		f.poll.RUnlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// tsSegment fetches a TS segment and keeps its size.
func (f *fetcher) tsSegment(ctx context.Context, m Media, sizes map[uint64]int64) (int64, error) {
	n, err := f.fetch(ctx, m.Path)
	if err != nil {
		return 0, err
	}
	sizes[m.MSN] = n
	f.count(func(t *Fetched) { t.TSRequests++; t.TSBytes += n })
	return n, nil
}

// allOutputs is one poll of mode All after the TS playlist's.
func (f *fetcher) allOutputs(ctx context.Context, name string, ts Listing, seen map[string]bool, sizes map[uint64]int64, counted map[uint64]bool) {
	for _, m := range ts.Media {
		if counted[m.MSN] {
			continue
		}
		n, ok := sizes[m.MSN]
		if !ok {
			var err error
			if n, err = f.tsSegment(ctx, m, sizes); err != nil {
				f.fail(err)
				continue
			}
		}
		counted[m.MSN] = true
		f.count(func(t *Fetched) { t.Packaged++; t.PackagedTS += n })
	}
	msns := ts.MSNs()
	for _, o := range f.outs {
		p := o.ManifestPath(name)
		body, err := f.getOK(ctx, p)
		var l Listing
		if err == nil {
			l, err = o.List(p, body, msns)
		}
		f.count(func(t *Fetched) {
			t.Manifests++
			if err != nil {
				t.ManifestErrors++
			}
		})
		if err != nil {
			continue
		}
		for _, p := range l.Inits {
			if !seen[p] {
				seen[p] = true
				f.packagedForm(ctx, o.Name, p, false, true)
			}
		}
		for _, m := range l.Media {
			if !seen[m.Path] {
				seen[m.Path] = true
				f.packagedForm(ctx, o.Name, m.Path, m.Part, false)
			}
		}
	}
}

// packagedForm fetches one packaged form and counts it.
func (f *fetcher) packagedForm(ctx context.Context, o, path string, part, init bool) {
	n, err := f.fetch(ctx, path)
	if err != nil {
		f.fail(err)
		return
	}
	f.got(o, n, part, init)
}

// got counts a packaged body of n bytes from output o.
func (f *fetcher) got(o string, n int64, part, init bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &f.tot
	t.PackRequests++
	t.PackBytes += n
	t.ByOutput[o] += n
	t.ByOutputReqs[o]++
	if part {
		t.Parts++
	}
	if init {
		t.InitRequests++
		t.InitBytes += n
	}
	f.pack = append(f.pack, packed{time.Now(), n})
	if len(f.pack) > 1<<16 {
		f.pack = f.pack[len(f.pack)/2:]
	}
}

// fetch GETs path, reading and discarding the body; n is its size.
func (f *fetcher) fetch(ctx context.Context, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, fmt.Errorf("packaging: GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("packaging: GET %s: %s", path, resp.Status)
	}
	return n, nil
}

// getOK GETs path and returns the body of a 200 answer.
func (f *fetcher) getOK(ctx context.Context, path string) ([]byte, error) {
	body, code, err := getWith(ctx, f.client, f.base+path)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("packaging: GET %s: status %d", path, code)
	}
	return body, err
}

var client = &http.Client{Timeout: 15 * time.Second}

// get fetches url and returns its body and status code.
func get(ctx context.Context, url string) ([]byte, int, error) { return getWith(ctx, client, url) }

func getWith(ctx context.Context, c *http.Client, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("packaging: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("packaging: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("packaging: GET %s: %w", url, err)
	}
	return body, resp.StatusCode, nil
}
