package hls

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// These tests use unicast UDP on 127.0.0.1 only.

type fixture struct {
	p    *pipeline.Pipeline
	srv  *Server
	base string
	in   net.Conn // UDP sender to the stream's input
	clip []byte
	name string // of the stream
}

// smallSendBuffer makes every accepted connection's socket send buffer tiny,
// so a slow client really holds the server's writes back.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

func newFixture(t testing.TB, segDur time.Duration, segCount int, wrap func(net.Listener) net.Listener) *fixture {
	t.Helper()
	return newFixtureNamed(t, "ch", segDur, segCount, wrap)
}

// newFixtureNamed is newFixture with a stream called name.
func newFixtureNamed(t testing.TB, name string, segDur time.Duration, segCount int, wrap func(net.Listener) net.Listener) *fixture {
	t.Helper()
	return newFixtureWith(t, name, segDur, segCount, wrap, DefaultLimits, nil)
}

// newFixtureWith is newFixtureNamed with the server's limits, and its log
// going to logf (nil: the test's log).
func newFixtureWith(t testing.TB, name string, segDur time.Duration, segCount int, wrap func(net.Listener) net.Listener,
	lim Limits, logf func(string, ...any)) *fixture {
	t.Helper()
	if logf == nil {
		logf = t.Logf
	}
	if _, ok := t.(*testing.F); ok {
		// F's methods may not be called while the fuzz target runs, and
		// the pipeline logs from its own goroutines at any time.
		logf = func(string, ...any) {}
	}
	p, err := pipeline.New(pipeline.Options{Memory: pipeline.MinMemory, CPUs: []int{0}, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uc.LocalAddr().(*net.UDPAddr).Port
	uc.Close()
	err = p.Start(config.Stream{Name: name, SegmentDuration: segDur, SegmentCount: segCount, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: fmt.Sprintf("udp://127.0.0.1:%d", port)}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	srv := New(p, logf, lim)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	in, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	clip, err := os.ReadFile("../testdata/h264_aac.ts")
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the worker has the socket.
	deadline := time.Now().Add(5 * time.Second)
	for p.Lookup(name) == nil || time.Now().Before(deadline) && !listening(port) {
		time.Sleep(20 * time.Millisecond)
	}
	return &fixture{p: p, srv: srv, base: "http://" + ln.Addr().String(), in: in, clip: clip, name: name}
}

func listening(port int) bool {
	c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return true // taken: slabcast has it
	}
	c.Close()
	return false
}

// send blasts the clip as 7-packet datagrams, gently enough for the socket
// buffer. Cuts follow PTS, so segments form at any speed.
func (f *fixture) send(t testing.TB) {
	t.Helper()
	const dg = 7 * ts.PacketSize
	for off := 0; off < len(f.clip); off += dg {
		if _, err := f.in.Write(f.clip[off:min(off+dg, len(f.clip))]); err != nil {
			t.Fatal(err)
		}
		if (off/dg)%32 == 31 {
			time.Sleep(time.Millisecond)
		}
	}
}

func (f *fixture) waitSegments(t testing.TB, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.p.Lookup(f.name).Stats().Count[pipeline.Segments] < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d segments", f.p.Lookup(f.name).Stats().Count[pipeline.Segments])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestServeStream(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 8)
	resp, body := get(t, f.base+"/ch/index.m3u8")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" ||
		resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("playlist: %d %v", resp.StatusCode, resp.Header)
	}
	pl, err := hlstest.ParsePlaylist(body)
	if err != nil {
		t.Fatal(err)
	}
	// The clip arrives much faster than real time, so the program date
	// follows the clock, not the media: loosen only that rule.
	if err := (hlstest.Rules{PDTTolerance: time.Hour}).Check(pl); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	for _, s := range pl.Segments {
		resp, b := get(t, hlstest.ResolveURI(f.base+"/ch/index.m3u8", s.URI))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp2t" ||
			!strings.Contains(resp.Header.Get("Cache-Control"), "max-age") || !hlstest.FirstPacketIsPAT(b) {
			t.Fatalf("segment %s: %d %v", s.URI, resp.StatusCode, resp.Header)
		}
		if strconv.Itoa(len(b)) != resp.Header.Get("Content-Length") {
			t.Fatalf("segment %s: %d bytes, Content-Length %s", s.URI, len(b), resp.Header.Get("Content-Length"))
		}
	}
	// HEAD gives the length and no body.
	req, _ := http.NewRequest(http.MethodHead, hlstest.ResolveURI(f.base+"/ch/index.m3u8", pl.Segments[0].URI), nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil || hr.StatusCode != 200 || hr.ContentLength <= 0 {
		t.Fatalf("HEAD: %v %v", hr, err)
	}
	hr.Body.Close()

	f2 := func(method, path string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, f.base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	f2("GET", "/nope/index.m3u8", 404)
	f2("GET", "/ch/", 404)
	f2("GET", "/ch", 404)
	f2("GET", "/", 404)
	f2("GET", "/ch/x.ts", 404)
	f2("GET", "/ch/index.m3u8x", 404)
	f2("GET", "/c%2Fh/index.m3u8", 404)
	f2("GET", "/"+strings.Repeat("a", 1000)+"/index.m3u8", 404)
	f2("GET", "/"+strings.Repeat("a", 5000)+"/index.m3u8", 431) // fasthttp refuses oversized request heads
	f2("POST", "/ch/index.m3u8", 405)
	f2("DELETE", "/ch/index.m3u8", 405)
	f2("OPTIONS", "/ch/index.m3u8", 204)

	var m bytes.Buffer
	f.srv.WriteMetrics(&m)
	for _, want := range []string{
		`slabcast_segments_total{stream="ch"} `,
		`slabcast_http_requests_total{code="404"} 8`,
		`slabcast_http_requests_total{code="405"} 2`,
		`slabcast_ts_errors_total{stream="ch",indicator="Continuity_count_error"} 0`,
		`slabcast_input_bytes_total{stream="ch"} ` + strconv.Itoa(len(f.clip)),
		`slabcast_input_packets_total{stream="ch"} ` + strconv.Itoa(len(f.clip)/188),
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A stream named with '/' segments, as Flussonic names them, is served
// under its whole name.
func TestServeSlashName(t *testing.T) {
	f := newFixtureNamed(t, "news/hd", time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 4)
	resp, body := get(t, f.base+"/news/hd/index.m3u8")
	if resp.StatusCode != 200 {
		t.Fatalf("playlist: %d", resp.StatusCode)
	}
	pl, err := hlstest.ParsePlaylist(body)
	if err != nil || len(pl.Segments) == 0 {
		t.Fatalf("%v\n%s", err, body)
	}
	seg := hlstest.ResolveURI(f.base+"/news/hd/index.m3u8", pl.Segments[0].URI)
	if !strings.HasPrefix(seg, f.base+"/news/hd/20") {
		t.Fatalf("segment URL %s", seg)
	}
	if resp, b := get(t, seg); resp.StatusCode != 200 || !hlstest.FirstPacketIsPAT(b) {
		t.Fatalf("segment %s: %d", seg, resp.StatusCode)
	}
	for _, path := range []string{"/news/index.m3u8", "/hd/index.m3u8", "/news/hd/x/index.m3u8", "/news/hd/index.m3u8/x"} {
		if resp, _ := get(t, f.base+path); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodHead, f.base+"/news/hd/mpegts", nil)
	if hr, err := http.DefaultClient.Do(req); err != nil || hr.StatusCode != 200 {
		t.Fatalf("HEAD /news/hd/mpegts: %v %v", hr, err)
	}
}

// A stream with no segment yet holds the request, then answers 503 with
// Retry-After after 3 × segment_duration + 5 s.
func TestNotReadyHoldsThen503(t *testing.T) {
	f := newFixture(t, 500*time.Millisecond, 6, nil)
	start := time.Now()
	resp, _ := get(t, f.base+"/ch/index.m3u8")
	held := time.Since(start)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	if held < 6*time.Second || held > 9*time.Second {
		t.Fatalf("held %v, want 6.5 s", held)
	}
	// A request that arrives before the first segment gets it when it comes.
	done := make(chan *http.Response, 1)
	go func() {
		r, err := http.Get(f.base + "/ch/index.m3u8")
		if err == nil {
			r.Body.Close()
		}
		done <- r
	}()
	time.Sleep(300 * time.Millisecond)
	f.send(t)
	if r := <-done; r == nil || r.StatusCode != 200 {
		t.Fatalf("held request: %v", r)
	}
}

// A client reading a segment slower than the ring reuses memory gets the
// whole, correct segment or a broken response, never a complete-looking
// mix.
func TestSlowReaderNeverSeesTornSegment(t *testing.T) {
	f := newFixture(t, time.Second, 3, func(l net.Listener) net.Listener { return smallSendBuffer{l} })
	f.send(t)
	f.waitSegments(t, 8) // a 10 s clip, 1 s segments, less the media clock's first second
	_, body := get(t, f.base+"/ch/index.m3u8")
	pl, err := hlstest.ParsePlaylist(body)
	if err != nil {
		t.Fatal(err)
	}
	url := hlstest.ResolveURI(f.base+"/ch/index.m3u8", pl.Segments[0].URI)
	_, want := get(t, url)

	// A slow client: tiny receive window, reads a little, then stalls.
	addr := strings.TrimPrefix(f.base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	path := strings.TrimPrefix(url, f.base)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
	br := bufio.NewReaderSize(c, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != int64(len(want)) {
		t.Fatalf("Content-Length %d, want %d", resp.ContentLength, len(want))
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	// Meanwhile the source moves on far enough for the ring to reuse the
	// segment's memory.
	for i := 0; i < 3; i++ {
		f.send(t)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := get(t, url)
		if r.StatusCode == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("segment never left the ring")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(resp.Body)
	got := append(head, rest...)
	switch {
	case err == nil && bytes.Equal(got, want):
		t.Log("the kernel had the whole segment before the reuse: complete and correct")
	case err == nil:
		t.Fatalf("a complete response with wrong bytes: %d bytes, want %d", len(got), len(want))
	case errors.Is(err, io.ErrUnexpectedEOF) && len(got) < len(want):
		t.Logf("broken off after %d of %d bytes: the client knows it has no segment", len(got), len(want))
	default:
		t.Fatalf("unexpected: err %v, %d bytes", err, len(got))
	}
	if err == nil {
		t.Fatal("the test did not make the reader slower than the ring; it proves nothing")
	}
	_ = context.Background
}

// A /mpegts client of a stream that is removed, while another stream takes
// the freed memory, is let go: no busy loop, no leaked connection.
func TestLiveReaderOfRemovedStreamEnds(t *testing.T) {
	f := newFixture(t, time.Second, 3, func(l net.Listener) net.Listener { return smallSendBuffer{l} })
	f.send(t)
	f.waitSegments(t, 2)
	c, err := net.Dial("tcp", strings.TrimPrefix(f.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /ch/mpegts HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the client stalls with the server mid-write
	if err := f.p.Stop("ch"); err != nil {
		t.Fatal(err)
	}
	uc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := uc.LocalAddr().(*net.UDPAddr).Port
	uc.Close()
	if err := f.p.Start(config.Stream{Name: "ch2", SegmentDuration: time.Second, SegmentCount: 3, SourceTimeout: 10 * time.Second,
		Inputs: []config.Input{{URL: fmt.Sprintf("udp://127.0.0.1:%d", port)}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	in, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f.in = in
	for i := 0; i < 3; i++ {
		f.send(t) // the other stream reuses the removed one's chunks
	}
	// The client reads on: it gets the rest of what was verified, then the
	// server lets it go.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("the connection was not closed: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.srv.liveConns.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d live connections left", f.srv.liveConns.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := f.srv.liveMiss.Load(); m > 2 {
		t.Fatalf("%d lag restarts for one client", m)
	}
}

// Playlists carry an ETag, and a conditional request for the same version
// gets 304 with no body: an edge cache revalidates instead of fetching
// the playlist again. A new segment is a new ETag.
func TestPlaylistRevalidation(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	f.send(t)
	f.waitSegments(t, 4)
	// Until the clip is all in (the last segment stays open): the
	// playlist holds still.
	for n := uint64(0); n != f.p.Lookup(f.name).Stats().Count[pipeline.Segments]; {
		n = f.p.Lookup(f.name).Stats().Count[pipeline.Segments]
		time.Sleep(300 * time.Millisecond)
	}
	for _, name := range []string{"index.m3u8", "index.fmp4.m3u8"} {
		u := f.base + "/ch/" + name
		resp, body := get(t, u)
		tag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || len(tag) < 3 || tag[0] != '"' {
			t.Fatalf("%s: %d, ETag %q", name, resp.StatusCode, tag)
		}
		cond := func(inm string) (*http.Response, []byte) {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("If-None-Match", inm)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			return r, b
		}
		if r, b := cond(tag); r.StatusCode != http.StatusNotModified || len(b) != 0 || r.Header.Get("ETag") != tag {
			t.Errorf("%s with If-None-Match %s: %d, %d bytes, ETag %q", name, tag, r.StatusCode, len(b), r.Header.Get("ETag"))
		}
		if r, b := cond(`"0000000000000000"`); r.StatusCode != 200 || !bytes.Equal(b, body) && r.Header.Get("ETag") == tag {
			t.Errorf("%s with another ETag: %d, %d bytes", name, r.StatusCode, len(b))
		}
	}
	// The source moves on: the playlist changes, and so does its ETag.
	resp, _ := get(t, f.base+"/ch/index.m3u8")
	before := resp.Header.Get("ETag")
	segs := f.p.Lookup(f.name).Stats().Count[pipeline.Segments]
	f.send(t)
	f.waitSegments(t, segs+1)
	resp, _ = get(t, f.base+"/ch/index.m3u8")
	if after := resp.Header.Get("ETag"); after == before {
		t.Errorf("ETag %s unchanged after new segments", after)
	}
}
