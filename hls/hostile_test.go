package hls

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/pipeline"
	"github.com/slabcast/slabcast/ts"
)

// Hostile clients (issue "Hostile clients cost nothing"): every answer is
// counted, the log stays small however many bad requests arrive, and
// connections beyond the limits, idle ones and stalled live readers are
// closed and counted.

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
	bytes int
}

func (l *logBuffer) logf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.bytes += len(s) + 1
	l.mu.Unlock()
}

func (l *logBuffer) size() (lines, bytes int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines), l.bytes
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// metric returns the value of one series of the server's exposition, -1
// when it is missing.
func (f *fixture) metric(series string) int64 {
	var b bytes.Buffer
	f.srv.WriteMetrics(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// waitMetric waits until series reaches want, at most d.
func (f *fixture) waitMetric(t *testing.T, series string, want int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for f.metric(series) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", series, f.metric(series), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawRequest sends req on a connection of its own and returns the status
// code of the answer (0 if none came).
func rawRequest(t *testing.T, addr string, req []byte) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(req) // the server may answer and close before it has all of it
	line, _ := bufio.NewReader(c).ReadString('\n')
	if m := regexp.MustCompile(`^HTTP/1\.1 (\d{3}) `).FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// Thousands of malformed requests: each is answered, each answer is in
// slabcast_http_requests_total, and the log gets a line per kind and peer,
// not per request, with nothing of the requests' bytes beyond a bounded
// path.
func TestBadRequestsCountedLogBounded(t *testing.T) {
	var lg logBuffer
	f := newFixtureWith(t, "ch", time.Second, 6, nil, DefaultLimits, lg.logf)
	addr := strings.TrimPrefix(f.base, "http://")
	junk := strings.Repeat("A", 13000)
	kinds := []struct {
		req  string
		code int
	}{
		{junk[:3000] + "\r\n\r\n", 400}, // no method, no version
		{"GET /" + junk + " HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Pad: "+junk+"\r\n", 1), 431}, // header beyond the buffer
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + junk, 413},                   // body beyond the limit
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + junk[:3000] + "\r\n\r\n", 400},              // TLS to the plain port
	}
	const each = 500
	for _, k := range kinds {
		before := f.metric(`slabcast_http_requests_total{code="` + strconv.Itoa(k.code) + `"}`)
		for i := 0; i < each; i++ {
			if got := rawRequest(t, addr, []byte(k.req)); got != k.code {
				t.Fatalf("request %.40q…: answered %d, want %d", k.req, got, k.code)
			}
		}
		after := f.metric(`slabcast_http_requests_total{code="` + strconv.Itoa(k.code) + `"}`)
		if max(before, 0)+each != after {
			t.Errorf("%d answers %d: slabcast_http_requests_total went from %d to %d", each, k.code, before, after)
		}
	}
	f.srv.limited.Flush()
	lines, size := lg.size()
	// One line per kind of answer from this peer, one summary each, and
	// the fixture's own few lines: a stated bound, far below the
	// 4 × 500 × 13 KB that echoing would write.
	if lines > 12 || size > 4096 {
		t.Errorf("log grew by %d lines, %d bytes for %d bad requests:\n%s", lines, size, len(kinds)*each, &lg)
	}
	if s := lg.String(); strings.Contains(s, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") {
		t.Errorf("the log echoes more than 200 bytes of a request:\n%.2000s", s)
	}
	t.Logf("the log after the flood:\n%s", &lg)
	if s := lg.String(); !strings.Contains(s, "499 more in the last") {
		t.Errorf("no summary of the repeats:\n%s", s)
	}
	// And the stream is still served.
	f.send(t)
	f.waitSegments(t, 2)
	if got := rawRequest(t, addr, []byte("GET /ch/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")); got != 200 {
		t.Fatalf("playlist after the flood: %d", got)
	}
}

// Connections that never send a request are answered 408 at the read
// timeout, counted as an answer and as an idle close, and not logged.
func TestIdleConnectionsCounted(t *testing.T) {
	var lg logBuffer
	lim := DefaultLimits
	lim.ReadTimeout, lim.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond
	f := newFixtureWith(t, "ch", time.Second, 6, nil, lim, lg.logf)
	addr := strings.TrimPrefix(f.base, "http://")
	const n = 50
	var cs []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	// A slowloris: half a request line, then nothing.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("GET /ch/index.m3u8 HTTP/1.1\r\nHost: x\r\nX-a: "))
	f.waitMetric(t, "slabcast_http_connections", n+1, 2*time.Second)
	f.waitMetric(t, `slabcast_http_requests_total{code="408"}`, n+1, 5*time.Second)
	f.waitMetric(t, `slabcast_http_connections_closed_total{reason="error"}`, n+1, 5*time.Second)
	f.waitMetric(t, "slabcast_http_connections", 0, 5*time.Second)
	for _, c := range cs {
		c.SetReadDeadline(time.Now().Add(time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 408 ") {
			t.Fatalf("idle connection got %q, want a 408", line)
		}
	}
	// A kept-alive connection that goes quiet after a request is closed
	// without an answer, as idle.
	ka, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	ka.Write([]byte("GET /nosuch/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.waitMetric(t, `slabcast_http_connections_closed_total{reason="idle"}`, 1, 5*time.Second)
	f.srv.limited.Flush()
	// Only the server's own lines count: the fixture logs its listening
	// address, whose port may well contain "408".
	for _, l := range strings.Split(lg.String(), "\n") {
		if strings.HasPrefix(l, "http:") && strings.Contains(l, "408") {
			t.Errorf("idle connections were logged:\n%s", l)
		}
	}
}

// Beyond the limits a connection is answered 503 with Retry-After and
// counted; closing one makes room again.
func TestConnectionLimits(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConnsPerIP, lim.MaxConns = 4, 6
	f := newFixtureWith(t, "ch", time.Second, 6, nil, lim, nil)
	addr := strings.TrimPrefix(f.base, "http://")
	var held []net.Conn
	hold := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		return c
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		hold("127.0.0.1")
	}
	f.waitMetric(t, "slabcast_http_connections", 4, 2*time.Second)
	refused := func(local string) string {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("GET /ch/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"))
		var b bytes.Buffer
		b.ReadFrom(c)
		return b.String()
	}
	if got := refused("127.0.0.1"); !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "Retry-After: 1\r\n") {
		t.Fatalf("fifth connection from one address: %q", got)
	}
	f.waitMetric(t, `slabcast_http_connections_refused_total{reason="max_connections_per_ip"}`, 1, time.Second)
	// Another address may still connect, up to the total.
	hold("127.0.0.2")
	hold("127.0.0.2")
	f.waitMetric(t, "slabcast_http_connections", 6, 2*time.Second)
	if got := refused("127.0.0.3"); !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("seventh connection in all: %q", got)
	}
	f.waitMetric(t, `slabcast_http_connections_refused_total{reason="max_connections"}`, 1, time.Second)
	f.waitMetric(t, `slabcast_http_requests_total{code="503"}`, 2, time.Second)
	// One goes: room for one more.
	held[0].Close()
	f.waitMetric(t, "slabcast_http_connections", 5, 2*time.Second)
	if got := rawRequest(t, addr, []byte("GET /nosuch/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n")); got != 404 {
		t.Fatalf("after one closed: %d, want 404", got)
	}
}

// A /mpegts reader that never reads is closed after the stall timeout and
// counted, and the server's socket holds no more than its bounded send
// buffer for it meanwhile.
func TestStalledLiveReaderClosed(t *testing.T) {
	var lg logBuffer
	lim := DefaultLimits
	lim.StallTimeout, lim.LiveSendBuffer = time.Second, 32<<10
	f := newFixtureWith(t, "ch", time.Second, 6, nil, lim, lg.logf)
	addr := strings.TrimPrefix(f.base, "http://")
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.send(t)
		}
	}()
	defer func() { close(stop); <-fed }()
	f.waitSegments(t, 2)
	// A client whose own receive buffer is small, so what it does not
	// read backs up into the server's socket quickly.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	c.Write([]byte("GET /ch/mpegts HTTP/1.1\r\nHost: x\r\n\r\n"))
	start := time.Now()
	var maxQueued int64
	sampled := false // the connection was found open at least once
	for {
		if q, ok := sendQueue(t, c.RemoteAddr().(*net.TCPAddr).Port, port); ok {
			maxQueued, sampled = max(maxQueued, q), true
		}
		if f.metric(`slabcast_http_connections_closed_total{reason="stalled"}`) == 1 {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("a reader that never reads is still open after %v:\n%s", time.Since(start), &lg)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The kernel doubles SO_SNDBUF for its bookkeeping; what is queued
	// stays within that.
	if maxQueued > 2*int64(lim.LiveSendBuffer)+64<<10 {
		t.Errorf("the server's socket queued %d bytes for a stalled reader; send buffer %d", maxQueued, lim.LiveSendBuffer)
	}
	// A stall is a write blocked for the stall timeout, so bytes were
	// queued; on a loaded machine this goroutine may not run at all
	// before the close, and then there is no sample to judge.
	if sampled && maxQueued == 0 {
		t.Errorf("never saw bytes queued for the stalled reader: did it get the stream?")
	}
	f.waitMetric(t, "slabcast_mpegts_clients{stream=\"ch\"}", 0, 2*time.Second)
	f.srv.limited.Flush()
	if s := lg.String(); !strings.Contains(s, "took nothing for 1s: closed") {
		t.Errorf("the close is not logged:\n%s", s)
	}
	// A reader that reads keeps going.
	r, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Write([]byte("GET /ch/mpegts HTTP/1.1\r\nHost: x\r\n\r\n"))
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<20)
	got := 0
	for got < 2<<20 {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("a reading client lost its stream after %d bytes: %v", got, err)
		}
		got += n
	}
	// And when it goes, it counts as a client that closed.
	r.Close()
	f.waitMetric(t, `slabcast_http_connections_closed_total{reason="client"}`, 1, 5*time.Second)
}

// sendQueue returns the bytes queued to send on the server's end of the
// connection from client port client to server port server, from
// /proc/net/tcp (tx_queue).
func sendQueue(t *testing.T, server, client int) (int64, bool) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	// The server's end of this very connection, established: a socket of
	// an earlier connection from the same client port (TIME_WAIT, which
	// queues nothing) would otherwise pass for it.
	local, remote := fmt.Sprintf(":%04X", server), fmt.Sprintf(":%04X", client)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) < 5 || !strings.HasSuffix(fs[1], local) || !strings.HasSuffix(fs[2], remote) || fs[3] != "01" {
			continue
		}
		tx, _, _ := strings.Cut(fs[4], ":")
		n, err := strconv.ParseInt(tx, 16, 64)
		return n, err == nil
	}
	return 0, false
}

// Publishers are strangers too: a body that is not TS is skipped and
// counted, a publisher that stalls is ended after source_timeout and frees
// the slot, and publishing where nothing can be published is refused.
func TestPublishHostile(t *testing.T) {
	f := newFixture(t, time.Second, 6, nil)
	err := f.p.Start(config.Stream{Name: "studio", Live: true, SegmentDuration: time.Second, SegmentCount: 6, SourceTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(f.base, "http://")
	put := func(path string, body []byte, keep bool) (net.Conn, int) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", path)
		if len(body) > 0 {
			fmt.Fprintf(c, "%x\r\n%s\r\n", len(body), body)
		}
		if keep {
			return c, 0
		}
		c.Write([]byte("0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		code, _ := strconv.Atoi(strings.Fields(line + " 0 0")[1])
		return nil, code
	}
	if _, code := put("/ch/mpegts", nil, false); code != 403 {
		t.Errorf("publishing to a static stream: %d, want 403", code)
	}
	if _, code := put("/mpegts", nil, false); code != 404 {
		t.Errorf("publishing to no stream: %d, want 404", code)
	}
	if _, code := put("/nosuch/mpegts", nil, false); code != 404 {
		t.Errorf("publishing to an unknown stream: %d, want 404", code)
	}
	junk := bytes.Repeat([]byte("not a transport stream "), 3000)
	if _, code := put("/studio/mpegts", junk, false); code != 200 {
		t.Errorf("a garbage publish: %d, want 200 once it ends", code)
	}
	st := f.p.Lookup("studio")
	if n := st.Stats().Count[pipeline.Skipped]; n != uint64(len(junk)) {
		t.Errorf("skipped %d bytes of %d of garbage", n, len(junk))
	}
	// A publisher that sends a little, then nothing: ended after
	// source_timeout, and the slot is free again.
	c, _ := put("/studio/mpegts", f.clip[:7*ts.PacketSize], true)
	defer c.Close()
	time.Sleep(100 * time.Millisecond)
	if _, code := put("/studio/mpegts", nil, false); code != 409 {
		t.Errorf("a second publisher while one is active: %d, want 409", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Publishing() {
		if time.Now().After(deadline) {
			t.Fatal("a stalled publisher still holds the slot after 5 s (source_timeout 1 s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, code := put("/studio/mpegts", f.clip[:70*ts.PacketSize], false); code != 200 {
		t.Errorf("publishing after the stalled one was ended: %d", code)
	}
}

// on_publish: the backend decides who publishes; one that says no, or
// cannot be reached, keeps the publisher out.
func TestOnPublish(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RawQuery)
		mu.Unlock()
		if r.URL.Query().Get("token") != "good" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer backend.Close()
	f := newFixture(t, time.Second, 6, nil)
	for name, hook := range map[string]string{"gated": backend.URL + "/on_publish?key=1", "dead": "http://127.0.0.1:1/on_publish"} {
		err := f.p.Start(config.Stream{Name: name, Live: true, OnPublish: hook, SegmentDuration: time.Second, SegmentCount: 6, SourceTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
	}
	addr := strings.TrimPrefix(f.base, "http://")
	put := func(path string) int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, 7*ts.PacketSize)
		c.Write(f.clip[:7*ts.PacketSize])
		line, _ := bufio.NewReader(c).ReadString('\n')
		code, _ := strconv.Atoi(strings.Fields(line + " 0 0")[1])
		return code
	}
	if code := put("/gated/mpegts?token=bad"); code != 403 {
		t.Errorf("a token the backend refuses: %d, want 403", code)
	}
	if code := put("/gated/mpegts?token=good"); code != 200 {
		t.Errorf("a token the backend allows: %d, want 200", code)
	}
	if code := put("/dead/mpegts?token=good"); code != 403 {
		t.Errorf("a backend that cannot be reached: %d, want 403", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 || !strings.Contains(asked[1], "name=gated") || !strings.Contains(asked[1], "ip=127.0.0.1") ||
		!strings.Contains(asked[1], "proto=http") || !strings.Contains(asked[1], "key=1") {
		t.Errorf("the backend was asked %q", asked)
	}
}
