package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// joined reports whether group is joined on any interface of this network
// namespace, by /proc/net/igmp (groups are printed as little-endian hex).
func joined(t *testing.T, group string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/igmp")
	if err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP(group).To4()
	hex := fmt.Sprintf("%02X%02X%02X%02X", ip[3], ip[2], ip[1], ip[0])
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == hex {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An ondemand stream joins its group only when a client asks, and leaves it
// clients_timeout after the last one; asked again, it comes back with its
// media sequence still moving forward.
func TestOnDemand(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	const group = "239.1.10.1"
	d := startDaemon(t, "ondemand od { input udp://"+group+":5000; segment_duration 1; clients_timeout 3; }\n")
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://" + group + ":5000"})
	time.Sleep(time.Second)
	if joined(t, group) {
		t.Fatal("the group is joined before any request")
	}
	if v := d.metric(`slabcast_stream_running{stream="od"}`); v != 0 {
		t.Fatalf("stream_running = %v before any request", v)
	}
	pl := d.base + "/od/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	first, err := hlstest.FetchPlaylist(ctx, pl) // held until the first segment exists
	if err != nil {
		t.Fatal(err)
	}
	if err := hlstest.Check(first); err != nil || len(first.Segments) == 0 {
		t.Fatalf("first playlist: %v\n%s", err, first.Raw)
	}
	if !joined(t, group) {
		t.Fatal("serving, but the group is not joined")
	}
	// A player keeps fetching: the stream stays.
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 4)
	if err != nil {
		t.Fatal(err)
	}
	checkSegments(t, pl, lists[len(lists)-1])
	last := lists[len(lists)-1]
	// Silence: after clients_timeout the group is left and the stream waits.
	waitFor(t, 3*time.Second+2*time.Second, "group left after clients_timeout", func() bool { return !joined(t, group) })
	if v := d.metric(`slabcast_stream_running{stream="od"}`); v != 0 {
		t.Fatalf("stream_running = %v after clients_timeout", v)
	}
	if !strings.Contains(d.Log(), "stream od: no clients for 3s: stopped") {
		t.Errorf("log does not say why the stream stopped:\n%s", d.Log())
	}
	// Asked again, it starts again, later in the media sequence.
	again, err := hlstest.FetchPlaylist(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	if again.Segments[0].MSN <= last.Segments[len(last.Segments)-1].MSN {
		t.Fatalf("media sequence went back after a restart:\nbefore:\n%s\nafter:\n%s", last.Raw, again.Raw)
	}
	if !joined(t, group) {
		t.Fatal("restarted, but the group is not joined")
	}
}

// Concurrent first requests to a waiting ondemand stream share one start.
func TestOnDemandConcurrentFirstRequests(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, "ondemand od { input udp://239.1.10.2:5000; segment_duration 1; clients_timeout 5; }\n")
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.10.2:5000"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, err := hlstest.FetchPlaylist(ctx, d.base+"/od/index.m3u8")
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(d.Log(), "stream od: listening on"); n != 1 {
		t.Fatalf("%d starts for 8 concurrent first requests:\n%s", n, d.Log())
	}
}

// Primary and backup: the primary stops, the playlist continues from the
// backup within source_timeout plus a segment, with a discontinuity; the
// primary returns and the stream goes back to it.
func TestFailover(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `
stream f {
  input udp://239.1.11.1:5000 priority=1 source_timeout=2;
  input udp://239.1.11.2:5000 priority=2 source_timeout=2;
  segment_duration 1;
}
`)
	primary := hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.11.1:5000"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.11.2:5000", Size: "320x180"})
	pl := d.base + "/f/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	if v := d.metric(`slabcast_input_switches_total{stream="f"}`); v != 0 {
		t.Fatalf("switches = %v while the primary plays", v)
	}
	primary.Stop()
	stopped := time.Now()
	// Within source_timeout (2 s) + the backup's next keyframe (up to 1 s)
	// + one segment (1 s) to complete, with slack for a loaded machine.
	var after *hlstest.Playlist
	waitFor(t, 2*time.Second+time.Second+4*time.Second, "a segment from the backup", func() bool {
		p, err := hlstest.FetchPlaylist(ctx, pl)
		if err != nil {
			return false
		}
		after = p
		return hasDiscontinuity(p) && !p.Segments[len(p.Segments)-1].Discontinuity
	})
	t.Logf("backup segments listed %v after the primary stopped", time.Since(stopped).Round(100*time.Millisecond))
	if v := d.metric(`slabcast_input_switches_total{stream="f"}`); v != 1 {
		t.Fatalf("switches = %v after the primary stopped", v)
	}
	if v := d.metric(`slabcast_stream_up{stream="f"}`); v != 1 {
		t.Fatalf("stream_up = %v on the backup", v)
	}
	if err := hlstest.Check(after); err != nil {
		t.Fatalf("%v\n%s", err, after.Raw)
	}
	// The primary comes back: the stream returns to it.
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.11.1:5000"})
	waitFor(t, 10*time.Second, "back on the primary", func() bool {
		return d.metric(`slabcast_input_switches_total{stream="f"}`) == 2
	})
	if !strings.Contains(d.Log(), "input udp://239.1.11.2:5000 -> udp://239.1.11.1:5000") {
		t.Errorf("log does not show the return to the primary:\n%s", d.Log())
	}
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Every segment on both sides of both switches decodes, starts with
	// PAT and a keyframe, and has no continuity error. (The two sources
	// keep their own clocks, which is what EXT-X-DISCONTINUITY tells a
	// player; the ffmpeg command line, which ignores that tag, would only
	// complain that timestamps go back.)
	checkSegments(t, pl, lists[len(lists)-1])
}

// A static stream whose input cannot open yet (its interface does not
// exist) keeps retrying, and joins as soon as the interface appears.
func TestStaticInputRetries(t *testing.T) {
	testnet.Require(t)
	d := startDaemon(t, "stream late { input udp://slab0@239.3.1.1:5000; }\n")
	waitLog(t, d, "stream late: input udp://slab0@239.3.1.1:5000")
	if !strings.Contains(d.Log(), "retrying in") {
		t.Fatalf("no retry announced:\n%s", d.Log())
	}
	// A veth pair inside this private namespace (both ends here, nothing
	// leads out); gone again at the end, so the namespace is lo alone for
	// the tests that follow.
	for _, args := range [][]string{
		{"link", "add", "slab0", "type", "veth", "peer", "name", "slab1"},
		{"link", "set", "slab1", "up"},
		{"link", "set", "slab0", "up", "multicast", "on"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", "slab0").Run() })
	waitFor(t, 10*time.Second, "joined once the interface exists", func() bool {
		return strings.Contains(d.Log(), "stream late: listening on") && joined(t, "239.3.1.1")
	})
}
