package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// Live streams (issue "Live streams and every common source"): a live
// stream waits for a publisher; ffmpeg publishes MPEG-TS to it with HTTP
// PUT; it plays as HLS and its segments decode; a second publisher and a
// wrong password are refused with a log line; a publisher that stops and
// returns gives a discontinuity and playback goes on.
func TestHTTPPublish(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, "live studio { segment_duration 1; }\nlive event { password s3cret; segment_duration 1; }\n"+
		"stream published { input publish://; segment_duration 1; }\n")
	status := func(name string) string {
		r := sockDo(t, d, `{"cmd":"list"}`)
		for _, s := range r.Streams {
			if s.Name == name {
				return s.Status
			}
		}
		return "absent"
	}
	if got := status("studio"); got != ctl.StatusWaiting {
		t.Fatalf("a live stream with no publisher is %q, want %q", got, ctl.StatusWaiting)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	publish := func(url string, seconds int) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
			"-stream_loop", "-1", "-i", "../../testdata/h264_aac.ts", "-t", fmt.Sprint(seconds), "-c", "copy",
			"-f", "mpegts", "-method", "PUT", url)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	pub := publish(d.base+"/studio/mpegts", 60)
	pl := d.base + "/studio/index.m3u8"
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 4)
	if err != nil {
		t.Fatalf("the published stream does not play: %v\n%s", err, d.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
	if got := status("studio"); got != ctl.StatusRunning {
		t.Errorf("a published stream is %q", got)
	}
	// ctl stats says who publishes, how and since when.
	r := sockDo(t, d, `{"cmd":"stats","name":"studio"}`)
	if len(r.Stats) != 1 || r.Stats[0].Publisher == nil || r.Stats[0].Publisher.Addr != "127.0.0.1" ||
		r.Stats[0].Publisher.Protocol != "http" || time.Since(r.Stats[0].Publisher.Since) > time.Minute {
		t.Errorf("stats of a published stream: %s", r.Raw)
	}
	if out, err := exec.Command(binary(t), "ctl", "--socket", d.sock, "stats", "studio").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "publisher") || !strings.Contains(string(out), "127.0.0.1 (http) since ") {
		t.Errorf("slabcast ctl stats studio: %v\n%s", err, out)
	}
	// A second publisher is refused while the first is active.
	if code := putStatus(t, d, "/studio/mpegts"); code != 409 {
		t.Errorf("a second publisher got %d, want 409", code)
	}
	// A wrong password, and none, are refused; the right one publishes.
	for _, q := range []string{"", "?password=wrong"} {
		if code := putStatus(t, d, "/event/mpegts"+q); code != 403 {
			t.Errorf("publishing to event with %q got %d, want 403", q, code)
		}
	}
	ev := publish(d.base+"/event/mpegts?password=s3cret", 60)
	if _, err := hlstest.Watch(ctx, d.base+"/event/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatalf("the passworded stream does not play: %v", err)
	}
	ev.Process.Kill()
	// Flussonic's other spelling: a stream with an input publish://.
	pb := publish(d.base+"/published/mpegts", 60)
	if _, err := hlstest.Watch(ctx, d.base+"/published/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatalf("a stream with input publish:// does not play what is published: %v", err)
	}
	pb.Process.Kill()
	// The publisher stops and another comes: a discontinuity, and the
	// playlist goes on.
	disc0 := max(d.metric(`slabcast_discontinuities_total{stream="studio"}`), 0)
	pub.Process.Kill()
	pub.Wait()
	d.waitMetric(`slabcast_publish_sessions_total{stream="studio"}`, time.Second, func(v float64) bool { return v == 1 })
	time.Sleep(500 * time.Millisecond)
	publish(d.base+"/studio/mpegts", 60)
	d.waitMetric(`slabcast_discontinuities_total{stream="studio"}`, 30*time.Second, func(v float64) bool { return v > disc0 })
	lists, err = hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatalf("playback did not go on after the publisher returned: %v", err)
	}
	checkSegments(t, pl, lists[len(lists)-1])
	log := d.Log()
	for _, want := range []string{"publish to event from 127.0.0.1 refused: wrong password", "publish to studio from 127.0.0.1 refused: another publisher is active"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

// putStatus starts a PUT of a few TS-looking bytes to path and returns the
// answer's status code.
func putStatus(t *testing.T, d *testDaemon, path string) int {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", path)
	var code int
	if _, err := fmt.Fscanf(c, "HTTP/1.1 %d", &code); err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
	return code
}
