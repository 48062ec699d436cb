//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// rtmpPublisher starts ffmpeg encoding live, as OBS would, and publishing
// to an RTMP URL for seconds (extra arguments go before the URL: OBS's
// form passes the application and the stream key apart).
func rtmpPublisher(t *testing.T, ctx context.Context, seconds int, url string, extra ...string) *exec.Cmd {
	t.Helper()
	return livePublisher(t, ctx, seconds, "flv", url, extra...)
}

// livePublisher starts ffmpeg encoding live and sending format to url for
// seconds: 640x360 at 25 fps, a keyframe a second, B-frames (so PTS and
// DTS differ), AAC. The committed clip looped with -stream_loop would not
// do: ffmpeg loses its first keyframe at each seam, so a segment there
// runs 2 s and a player sees EXT-X-TARGETDURATION change.
func livePublisher(t *testing.T, ctx context.Context, seconds int, format, url string, extra ...string) *exec.Cmd {
	t.Helper()
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "superfast", "-bf", "2",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-b:v", "1M", "-c:a", "aac", "-b:a", "96k", "-f", format}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// refusedWithin waits for an ffmpeg that the server should refuse to give
// up, and fails the test if it does not, or if it exits 0.
func refusedWithin(t *testing.T, cmd *exec.Cmd, d time.Duration, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("%s: ffmpeg exited 0, want a refusal", what)
		}
	case <-time.After(d):
		t.Errorf("%s: ffmpeg still running after %v, want a refusal", what, d)
	}
}

// RTMP publishing (issue "Live streams and every common source"): ffmpeg
// publishes over RTMP, in its own URL form and in OBS's (server URL plus
// stream key); the stream plays as HLS and /mpegts, its segments decode,
// and hls.js plays it in Chromium. A second publisher, a wrong password,
// a player and an unknown name are refused, counted and logged; a
// publisher that stops and returns gives a discontinuity.
func TestRTMPPublish(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	port := freePort(t, "tcp")
	d := startDaemon(t, fmt.Sprintf("rtmp 127.0.0.1:%d;\nlive studio { segment_duration 1; }\n"+
		"live event { password s3cret; segment_duration 1; }\n", port))
	server := fmt.Sprintf("rtmp://127.0.0.1:%d", port)
	// The HTTP port (which start waits for) may accept before the line
	// reaches the test through the daemon's stderr pipe.
	waitLog(t, d, fmt.Sprintf("taking rtmp publishers on 127.0.0.1:%d", port))
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	refused := func(reason string) float64 {
		return d.metric(fmt.Sprintf(`slabcast_publish_refused_total{proto="rtmp",reason="%s"}`, reason))
	}

	pub := rtmpPublisher(t, ctx, 120, server+"/live/studio")
	pl := d.base + "/studio/index.m3u8"
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 4)
	if err != nil {
		t.Fatalf("the RTMP-published stream does not play: %v\n%s", err, d.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
	checkLiveStart(t, d.base+"/studio/mpegts")
	r := sockDo(t, d, `{"cmd":"stats","name":"studio"}`)
	if len(r.Stats) != 1 || r.Stats[0].Status != ctl.StatusRunning || r.Stats[0].Publisher == nil ||
		r.Stats[0].Publisher.Protocol != "rtmp" || r.Stats[0].Publisher.Addr != "127.0.0.1" {
		t.Errorf("stats of an RTMP-published stream: %s", r.Raw)
	}

	t.Run("hls.js", func(t *testing.T) {
		chromium, hlsjs := browserTools(t)
		checkBrowserPlays(t, chromium, startPageServer(t, hlsjs), pl)
	})

	// Refusals: a second publisher, a wrong password (OBS's form: the
	// server URL, then the key with its query), a player, an unknown name.
	refusedWithin(t, rtmpPublisher(t, ctx, 10, server+"/live/studio"), 20*time.Second, "a second publisher")
	refusedWithin(t, rtmpPublisher(t, ctx, 10, server, "-rtmp_app", "live", "-rtmp_playpath", "event?password=wrong"),
		20*time.Second, "a wrong password")
	refusedWithin(t, rtmpPublisher(t, ctx, 10, server+"/live/nosuch"), 20*time.Second, "an unknown stream")
	play := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-i", server+"/live/studio", "-t", "1", "-f", "null", "-")
	if err := play.Start(); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, play, 20*time.Second, "a player")
	for _, reason := range []string{"busy", "password", "no_stream", "play"} {
		if n := refused(reason); n != 1 {
			t.Errorf("refused for %s: %v, want 1", reason, n)
		}
	}
	log := d.Log()
	for _, want := range []string{"publish to studio refused: pipeline: another publisher is active",
		"publish to event refused: pipeline: wrong password", "publish to live/nosuch: no such stream",
		"wants to play /live/studio: slabcast plays over HTTP only"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	// The right password, in OBS's form, publishes.
	ev := rtmpPublisher(t, ctx, 60, server, "-rtmp_app", "live", "-rtmp_playpath", "event?password=s3cret")
	if _, err := hlstest.Watch(ctx, d.base+"/event/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatalf("the passworded stream published in OBS's form does not play: %v\n%s", err, d.Log())
	}
	ev.Process.Kill()

	// The publisher stops and another comes: a discontinuity, and the
	// playlist goes on.
	disc0 := max(d.metric(`slabcast_discontinuities_total{stream="studio"}`), 0)
	pub.Process.Kill()
	pub.Wait()
	d.waitMetric(`slabcast_publish_ended_total{proto="rtmp",reason="eof"}`, 10*time.Second, func(v float64) bool { return v >= 1 })
	rtmpPublisher(t, ctx, 60, server+"/live/studio")
	d.waitMetric(`slabcast_discontinuities_total{stream="studio"}`, 30*time.Second, func(v float64) bool { return v > disc0 })
	lists, err = hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatalf("playback did not go on after the publisher returned: %v", err)
	}
	checkSegments(t, pl, lists[len(lists)-1])
	if n := d.metric(`slabcast_publish_sessions_total{stream="studio"}`); n != 2 {
		t.Errorf("%v sessions on studio, want 2", n)
	}
}

// Every RTMP peer is a stranger until it publishes: garbage instead of a
// handshake, a handshake and then AMF garbage, a flood before any publish,
// a connection that says nothing, and a publisher that stalls mid-stream.
// Each is closed and counted, the log stays short, and a stream being
// published meanwhile never misses a segment.
func TestRTMPHostile(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	port := freePort(t, "tcp")
	d := startDaemon(t, fmt.Sprintf("rtmp 127.0.0.1:%d;\nlive studio { segment_duration 1; }\n"+
		"live stall { segment_duration 1; source_timeout 2; }\n", port))
	server := fmt.Sprintf("rtmp://127.0.0.1:%d", port)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rtmpPublisher(t, ctx, 90, server+"/live/studio")
	pl := d.base + "/studio/index.m3u8"
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	log0 := len(d.Log())
	player := make(chan error, 1)
	pctx, stopPlayer := context.WithCancel(ctx)
	defer stopPlayer()
	go func() {
		_, err := hlstest.Watch(pctx, pl, 400*time.Millisecond, 1<<30)
		player <- err
	}()

	protocol0 := max(d.metric(`slabcast_publish_refused_total{proto="rtmp",reason="protocol"}`), 0)
	// closedWithin checks that the server ends c within d.
	closedWithin := func(c net.Conn, d time.Duration, what string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(d))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: the server did not close the connection within %v: %v", what, d, err)
		}
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// 1. Garbage where the handshake should be (a version byte RTMP has not).
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	garbage[0] = 0x55
	c1 := dial()
	c1.Write(garbage)
	closedWithin(c1, 5*time.Second, "garbage")
	// 2. A proper handshake, then AMF garbage where "connect" should be.
	c2 := dial()
	handshake(t, c2)
	c2.Write([]byte{0x03, 0, 0, 0, 0, 0, 40, 0x14, 0, 0, 0, 0})
	c2.Write(garbage[:40])
	closedWithin(c2, 5*time.Second, "AMF garbage")
	// 3. A handshake, then a flood: chunks that never finish a message.
	c3 := dial()
	handshake(t, c3)
	flood := make([]byte, 64<<10)
	for i := 0; i < 16; i++ { // 1 MiB, past the budget of a connection that has not published
		if _, err := c3.Write(flood); err != nil {
			break
		}
	}
	closedWithin(c3, 5*time.Second, "a flood before publishing")
	// 4. A connection that says nothing is closed at the handshake timeout.
	c4 := dial()
	closedWithin(c4, 15*time.Second, "a silent connection")
	if n := d.metric(`slabcast_publish_refused_total{proto="rtmp",reason="protocol"}`) - protocol0; n != 4 {
		t.Errorf("%v connections refused for protocol errors, want 4", n)
	}
	// 5. A publisher that stalls mid-stream: its session ends after the
	// stream's source_timeout and frees the stream for the next.
	st := rtmpPublisher(t, ctx, 60, server+"/live/stall")
	if _, err := hlstest.Watch(ctx, d.base+"/stall/index.m3u8", 500*time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	st.Process.Signal(syscall.SIGSTOP)
	d.waitMetric(`slabcast_publish_ended_total{proto="rtmp",reason="stalled"}`, 15*time.Second, func(v float64) bool { return v == 1 })
	st.Process.Signal(syscall.SIGCONT)
	st.Process.Kill()
	rtmpPublisher(t, ctx, 60, server+"/live/stall")
	d.waitMetric(`slabcast_publish_sessions_total{stream="stall"}`, 15*time.Second, func(v float64) bool { return v == 2 })

	stopPlayer()
	if err := <-player; err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("the player of another stream saw a broken rule meanwhile: %v", err)
	}
	log := d.Log()[log0:]
	if strings.Contains(log, "panic") || len(log) > 4096 {
		t.Errorf("the log grew by %d bytes:\n%.4000s", len(log), log)
	}
}

// handshake does RTMP's plain handshake as a client: C0 C1, read S0 S1 S2,
// C2.
func handshake(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	c1 := make([]byte, 1+1536)
	c1[0] = 3
	if _, err := c.Write(c1); err != nil {
		t.Fatal(err)
	}
	s := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := c.Write(s[1 : 1+1536]); err != nil {
		t.Fatal(err)
	}
}

// RTMP pull (Flussonic's `input rtmp://…`): the stream plays what an RTMP
// server not written by us (ffmpeg with -listen 1, which serves one
// player) sends; when that server goes, the input is counted and retried,
// and when it is back the stream goes on after a discontinuity.
func TestRTMPPull(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	port := freePort(t, "tcp")
	src := fmt.Sprintf("rtmp://127.0.0.1:%d/live/src", port)
	d := startDaemon(t, fmt.Sprintf("stream relay { input %s; segment_duration 1; source_timeout 3; }\n", src))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	server := livePublisher(t, ctx, 60, "flv", src, "-listen", "1")
	pl := d.base + "/relay/index.m3u8"
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatalf("the RTMP pull does not play: %v\n%s", err, d.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
	disc0 := max(d.metric(`slabcast_discontinuities_total{stream="relay"}`), 0)
	server.Process.Kill()
	server.Wait()
	d.waitMetric(`slabcast_input_errors_total{stream="relay",reason="read"}`, 20*time.Second, func(v float64) bool { return v >= 1 })
	d.waitMetric(`slabcast_input_errors_total{stream="relay",reason="connect"}`, 20*time.Second, func(v float64) bool { return v >= 1 })
	livePublisher(t, ctx, 60, "flv", src, "-listen", "1")
	d.waitMetric(`slabcast_discontinuities_total{stream="relay"}`, 40*time.Second, func(v float64) bool { return v > disc0 })
	lists, err = hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatalf("the RTMP pull did not come back: %v\n%s", err, d.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
}
