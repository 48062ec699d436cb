package hls

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/pipeline"
)

// replace puts the fixture's stream back with edit applied to its config
// (pipeline.Replace), as a ctl update does, and waits until the new stream
// has its input socket, so that what f.send sends next is the new one's.
func (f *fixture) replace(t *testing.T, edit func(*config.Stream)) (old, cur *pipeline.Stream) {
	t.Helper()
	old = f.p.Lookup(f.name)
	cfg := old.Config()
	edit(&cfg)
	if err := f.p.Replace(cfg); err != nil {
		t.Fatal(err)
	}
	port := f.in.RemoteAddr().(*net.UDPAddr).Port
	deadline := time.Now().Add(5 * time.Second)
	for !listening(port) {
		if time.Now().After(deadline) {
			t.Fatal("the new stream does not listen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return old, f.p.Lookup(f.name)
}

// statusLater GETs url in the background: the channel gets its status, or
// -1 when there was no answer.
func statusLater(url string) <-chan int {
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	return got
}

// openLive connects an /mpegts reader to the fixture's stream and reads
// its first packet.
func openLive(t *testing.T, f *fixture) *http.Response {
	t.Helper()
	resp, err := http.Get(f.base + "/" + f.name + "/mpegts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if _, err := io.ReadAtLeast(resp.Body, make([]byte, 64<<10), 188); err != nil {
		t.Fatal(err)
	}
	return resp
}

// A stream changed through the control socket is replaced
// (pipeline.Replace): a player asking for its playlists meanwhile waits
// for the new stream's first segment and gets it, never a 404 that says
// the stream does not exist.
func TestReplacedStreamNeverMissing(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 3)
	stop := make(chan struct{})
	var mu sync.Mutex
	codes := map[string]map[int]int{}
	var wg sync.WaitGroup
	for _, name := range []string{"index.m3u8", "index.fmp4.m3u8", "index.ll.m3u8", "index.mpd"} {
		codes[name] = map[int]int{}
		wg.Go(func() {
			c := &http.Client{Timeout: 15 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(f.base + "/ch/" + name)
				code := -1
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				codes[name][code]++
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	for i := range 5 {
		f.replace(t, func(c *config.Stream) { c.SegmentCount = 6 + i })
		time.Sleep(50 * time.Millisecond) // requests that find the new stream empty wait
		f.send(t)
		deadline := time.Now().Add(5 * time.Second)
		for f.p.Lookup("ch").Timeline() == nil {
			if time.Now().After(deadline) {
				t.Fatalf("replacement %d made no segment", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for name, c := range codes {
		if len(c) != 1 || c[200] == 0 {
			t.Errorf("%s during 5 replacements: %v (status: count), want only 200", name, c)
		}
	}
	t.Logf("%v", codes)
}

// A request waiting for a stream's first segment when the stream is
// replaced follows the new stream and is answered with its playlist.
func TestWaitingRequestFollowsReplacement(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	got := statusLater(f.base + "/ch/index.m3u8")
	time.Sleep(200 * time.Millisecond) // the request waits on the first stream
	f.replace(t, func(c *config.Stream) { c.SegmentCount = 8 })
	f.send(t)
	if code := <-got; code != 200 {
		t.Fatalf("the waiting request got %d, want 200 from the new stream", code)
	}
}

// An /mpegts reader stays connected across a replacement and goes on with
// the new stream's bytes, counted as its client, as a set-top box would
// want from a config change; a removal ends it.
func TestLiveReaderFollowsReplacement(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 2)
	resp := openLive(t, f)
	old, cur := f.replace(t, func(c *config.Stream) { c.SegmentCount = 9 })
	deadline := time.Now().Add(5 * time.Second)
	// Drain what the old stream had, then the new one's bytes come.
	got := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, resp.Body)
		got <- n
	}()
	f.send(t)
	for cur.Clients() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the reader did not move to the new stream: it has %d clients, the old %d", cur.Clients(), old.Clients())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := old.Clients(); n != 0 {
		t.Errorf("the old stream still has %d /mpegts clients", n)
	}
	for cur.Live() == nil || cur.Stats().Count[pipeline.Segments] < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the new stream made no segments")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Removing the stream ends the connection, with the new stream's
	// bytes sent.
	if err := f.p.Stop("ch"); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n < int64(len(f.clip))/2 {
			t.Errorf("after the replacement the reader got %d bytes; the new stream took in %d", n, len(f.clip))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("removing the stream did not end its /mpegts reader")
	}
}

// A reader admitted to a clear stream does not follow it into drm: when
// the replacement encrypts, the connection ends (a new request meets the
// drm stream's 403) rather than carrying its media in the clear.
func TestLiveReaderEndsWhenDRMComes(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 2)
	resp := openLive(t, f)
	got := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		got <- err
	}()
	_, cur := f.replace(t, func(c *config.Stream) { c.DRM = "aes128 keyserver=http://127.0.0.1:1/cas" })
	if _, drm := cur.DRM(); !drm {
		t.Fatal("the replacement has no drm")
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("the clear reader is still connected to the drm stream (%d clients)", cur.Clients())
	}
	if n := cur.Clients(); n != 0 {
		t.Errorf("the drm stream has %d /mpegts clients", n)
	}
}

// A manifest request waiting on a clear stream that is replaced by a drm
// one is told to ask again (and would then meet the drm stream's 403), not
// answered with a cleartext form of it.
func TestWaitingRequestDoesNotFollowIntoDRM(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	got := statusLater(f.base + "/ch/index.mpd")
	time.Sleep(200 * time.Millisecond) // the request waits on the clear stream
	// A key server that answers, so the drm stream makes segments.
	cas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("0123456789abcdef"))
	}))
	defer cas.Close()
	f.replace(t, func(c *config.Stream) { c.DRM = "aes128 keyserver=" + cas.URL + "/cas" })
	// The drm stream gets segments: a request that followed it would be
	// answered from them.
	f.send(t)
	if code := <-got; code != 503 {
		t.Fatalf("the waiting MPD request got %d, want 503 (ask again)", code)
	}
	if resp, _ := get(t, f.base+"/ch/index.mpd"); resp.StatusCode != 403 {
		t.Errorf("asking again: %d, want 403", resp.StatusCode)
	}
}
