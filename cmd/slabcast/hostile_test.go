package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// The reliability suite's hostile clients against the whole daemon
// (issue "Hostile clients cost nothing"): while a player polls a live
// stream from 127.0.0.1, an attacker on 127.0.0.2 sends malformed
// requests, holds idle connections past the per-address cap, and opens
// /mpegts readers that never read. The player keeps playing; every answer
// and every closed connection is counted as injected; the log, the
// daemon's memory and the kernel memory the stalled readers hold stay
// within stated bounds.
func TestHostileClients(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	const (
		perIP   = 100 // idle connections the attacker holds: the cap
		stalled = 20  // /mpegts readers that never read
		over    = 30  // connections tried beyond the per-address cap
		bad     = 1500
		flood   = 20000
		sndbuf  = 32 << 10
		stall   = 2 * time.Second
	)
	d := startDaemon(t, fmt.Sprintf(`http_max_connections_per_ip %d;
http_stall_timeout %v;
http_send_buffer %d;
stream ch { input udp://239.1.4.9:5000; segment_duration 1; }
`, perIP, stall.Seconds(), sndbuf))
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.4.9:5000"})
	pl := d.base + "/ch/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	rss0 := rssOf(t, d.cmd.Process.Pid)
	log0 := len(d.Log())

	// The player, all through the attack.
	type watched struct {
		lists []*hlstest.Playlist
		err   error
	}
	player := make(chan watched, 1)
	go func() {
		l, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 24)
		player <- watched{l, err}
	}()

	addr := fmt.Sprintf("127.0.0.1:%d", d.port)
	dialErr := func(from string, rcvbuf int) (net.Conn, error) {
		dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		if rcvbuf > 0 {
			dl.Control = func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			}
		}
		return dl.Dial("tcp", addr)
	}
	dial := func(from string, rcvbuf int) net.Conn { // on the test's goroutine only
		t.Helper()
		c, err := dialErr(from, rcvbuf)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Stalled readers first, from an address of their own: each asks for
	// /mpegts and never reads.
	var readerPorts []int
	for i := 0; i < stalled; i++ {
		c := dial("127.0.0.3", 4096)
		c.Write([]byte("GET /ch/mpegts HTTP/1.1\r\nHost: x\r\n\r\n"))
		held = append(held, c)
		readerPorts = append(readerPorts, c.LocalAddr().(*net.TCPAddr).Port)
	}
	for i := 0; i < perIP; i++ {
		held = append(held, dial("127.0.0.2", 0))
	}
	d.waitMetric("slabcast_http_connections", 5*time.Second, func(v float64) bool { return v >= stalled+perIP })
	// Beyond the cap: every one answered 503 at once. The player's own
	// address is not affected.
	refused := 0
	for i := 0; i < over; i++ {
		c := dial("127.0.0.2", 0)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("GET /ch/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(line, "HTTP/1.1 503 ") {
			refused++
			c.Close()
		} else {
			held = append(held, c) // within the cap: a 200, kept open
		}
	}
	if refused != over {
		t.Errorf("%d connections beyond a cap of %d from one address were refused, want %d", refused, perIP, over)
	}
	// Malformed requests, each on a connection of its own, once the idle
	// ones are closed to make room for them.
	for _, c := range held[stalled:] {
		c.Close()
	}
	held = held[:stalled]
	d.waitMetric("slabcast_http_connections", 5*time.Second, func(v float64) bool { return v <= stalled+2 })
	before400 := max(d.metric(`slabcast_http_requests_total{code="400"}`), 0)
	junk := strings.Repeat("\x01B", 1500) + "\r\n\r\n"
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < bad/4; i++ {
				c, err := dialErr("127.0.0.2", 0)
				if err != nil {
					t.Error(err)
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte(junk))
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if !strings.HasPrefix(line, "HTTP/1.1 400 ") {
					t.Errorf("malformed request answered %q", line)
					return
				}
			}
		}()
	}
	wg.Wait()
	d.waitMetric(`slabcast_http_requests_total{code="400"}`, 5*time.Second, func(v float64) bool { return v == before400+bad })

	// A flood of well-formed requests for what does not exist, pipelined
	// on kept-alive connections: each answered and counted, none logged.
	before404 := max(d.metric(`slabcast_http_requests_total{code="404"}`), 0)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialErr("127.0.0.2", 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go func() {
				for i := 0; i < flood/4; i++ {
					fmt.Fprintf(c, "GET /nosuch%d/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n", i)
				}
			}()
			br := bufio.NewReader(c)
			for i := 0; i < flood/4; i++ {
				line, err := br.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 404 ") {
					t.Errorf("flood request %d: %q %v", i, line, err)
					return
				}
				for { // the rest of the answer: headers, then a short body
					h, err := br.ReadString('\n')
					if err != nil {
						t.Errorf("flood answer %d: %v", i, err)
						return
					}
					if h == "\r\n" {
						break
					}
				}
				br.Discard(len("not found\n"))
			}
		}()
	}
	wg.Wait()
	d.waitMetric(`slabcast_http_requests_total{code="404"}`, 5*time.Second, func(v float64) bool { return v == before404+flood })

	// The stalled readers are gone within the stall timeout once their
	// buffers filled, and meanwhile held bounded kernel memory.
	var maxQueued int64
	deadline := time.Now().Add(30 * time.Second)
	for d.metric(`slabcast_http_connections_closed_total{reason="stalled"}`) < stalled {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s only %v of %d stalled readers were closed", d.metric(`slabcast_http_connections_closed_total{reason="stalled"}`), stalled)
		}
		var sum int64
		for _, p := range readerPorts {
			q, _ := serverSendQueue(t, p)
			sum += q
		}
		maxQueued = max(maxQueued, sum)
		time.Sleep(50 * time.Millisecond)
	}
	if limit := int64(stalled) * (2*sndbuf + 64<<10); maxQueued > limit {
		t.Errorf("%d stalled readers held %d bytes of send queue, above %d", stalled, maxQueued, limit)
	}
	t.Logf("%d stalled readers held at most %d bytes of send queue together", stalled, maxQueued)

	w := <-player
	if w.err != nil {
		t.Fatalf("the player stopped playing during the attack: %v", w.err)
	}
	checkSegments(t, pl, w.lists[len(w.lists)-1])
	if err := d.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the daemon is gone: %v", err)
	}
	log := d.Log()[log0:]
	t.Logf("the daemon's log during the attack (%d bytes):\n%s", len(log), log)
	if strings.Contains(log, "panic") {
		t.Fatalf("panic in the log:\n%s", log)
	}
	// A few lines per kind and peer, and their summaries: the bound is
	// 4 KB for ~1,700 hostile connections (echoing would be 4.5 MB).
	if len(log) > 4096 {
		t.Errorf("the log grew by %d bytes during the attack:\n%s", len(log), log)
	}
	if rss := rssOf(t, d.cmd.Process.Pid); rss-rss0 > 64<<20 {
		t.Errorf("the daemon grew from %d to %d bytes resident", rss0, rss)
	}
}

// rssOf returns the resident set of process pid.
func rssOf(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// serverSendQueue returns the bytes queued to send on the server's end of
// the connection whose client port is port (tx_queue in /proc/net/tcp).
func serverSendQueue(t *testing.T, port int) (int64, bool) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("no /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) < 5 || !strings.HasSuffix(fs[2], want) {
			continue
		}
		tx, _, _ := strings.Cut(fs[4], ":")
		n, err := strconv.ParseInt(tx, 16, 64)
		return n, err == nil
	}
	return 0, false
}
