//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/ctl"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// requireSRT skips (fails under CI) when ffmpeg has no SRT protocol.
func requireSRT(t *testing.T) {
	t.Helper()
	out, _ := exec.Command("ffmpeg", "-hide_banner", "-protocols").Output()
	if !strings.Contains(string(out), "\n  srt\n") {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg has no srt protocol (Debian's ffmpeg is built with libsrt)")
		}
		t.Skip("ffmpeg has no srt protocol")
	}
}

// SRT (issue "Live streams and every common source"): ffmpeg publishes
// MPEG-TS over SRT with each stream id form (publish:NAME, #!::r=NAME,
// m=publish with a password, a passphrase that is the stream's password);
// each plays and decodes. A wrong password, a player, an unknown name and
// a second publisher are refused and counted. srt:// inputs pull from a
// sender that listens (caller mode) and wait for one that calls
// (?mode=listener), which may leave and come back, a discontinuity each
// time. Datagrams that are not SRT disturb nothing.
func TestSRT(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	requireSRT(t)
	port, pullPort, listenPort := freePort(t, "udp"), freePort(t, "udp"), freePort(t, "udp")
	d := startDaemon(t, fmt.Sprintf(`srt 127.0.0.1:%d;
live studio { segment_duration 1; }
live event { password s3cret; segment_duration 1; }
live secure { password long-enough-secret; segment_duration 1; }
stream caller { input srt://127.0.0.1:%d; segment_duration 1; source_timeout 3; }
stream waiting { input srt://127.0.0.1:%d?mode=listener&streamid=feed; segment_duration 1; source_timeout 3; }
`, port, pullPort, listenPort))
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	srtURL := func(p int, query string) string { return fmt.Sprintf("srt://127.0.0.1:%d?%s", p, query) }
	refused := func(reason string) float64 {
		return d.metric(fmt.Sprintf(`slabcast_publish_refused_total{proto="srt",reason="%s"}`, reason))
	}
	plays := func(name string, n int) { t.Helper(); d.plays(t, ctx, name, n) }
	// The sender the caller stream pulls from listens from the start: the
	// caller's retries back off (1, 2, 4, 8 s...), and one that began
	// listening only after the checks below (some 20 s) was first called
	// after a playlist request's wait (8 s) had run out.
	livePublisher(t, ctx, 120, "mpegts", srtURL(pullPort, "mode=listener"))

	// Publishing, in each form.
	livePublisher(t, ctx, 120, "mpegts", srtURL(port, "streamid=publish:studio"))
	plays("studio", 3)
	checkLiveStart(t, d.base+"/studio/mpegts")
	r := sockDo(t, d, `{"cmd":"stats","name":"studio"}`)
	if len(r.Stats) != 1 || r.Stats[0].Status != ctl.StatusRunning || r.Stats[0].Publisher == nil || r.Stats[0].Publisher.Protocol != "srt" {
		t.Errorf("stats of an SRT-published stream: %s", r.Raw)
	}
	ev := livePublisher(t, ctx, 60, "mpegts", srtURL(port, "streamid=#!::r=event,m=publish,password=s3cret"))
	plays("event", 2)
	ev.Process.Kill()
	sec := livePublisher(t, ctx, 60, "mpegts", srtURL(port, "streamid=publish:secure&passphrase=long-enough-secret"))
	plays("secure", 2)
	sec.Process.Kill()

	// Refusals.
	refusedWithin(t, livePublisher(t, ctx, 10, "mpegts", srtURL(port, "streamid=publish:studio")), 20*time.Second, "a second publisher")
	refusedWithin(t, livePublisher(t, ctx, 10, "mpegts", srtURL(port, "streamid=#!::r=event,m=publish,password=wrong")), 20*time.Second, "a wrong password")
	refusedWithin(t, livePublisher(t, ctx, 10, "mpegts", srtURL(port, "streamid=publish:secure&passphrase=not-the-right-one")), 20*time.Second, "a wrong passphrase")
	refusedWithin(t, livePublisher(t, ctx, 10, "mpegts", srtURL(port, "streamid=publish:nosuch")), 20*time.Second, "an unknown stream")
	play := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-i", srtURL(port, "streamid=#!::r=studio,m=request"), "-t", "1", "-f", "null", "-")
	if err := play.Start(); err != nil {
		t.Fatal(err)
	}
	refusedWithin(t, play, 20*time.Second, "a player")
	for reason, want := range map[string]float64{"busy": 1, "password": 2, "no_stream": 1, "play": 1} {
		if n := refused(reason); n != want {
			t.Errorf("refused for %s: %v, want %v", reason, n, want)
		}
	}

	// Not SRT at all: random datagrams to the port.
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 1400)
	for i := 0; i < 200; i++ {
		rand.Read(junk)
		c.Write(junk[:1+i*7%1400])
	}
	c.Close()

	// Pulling: from a sender that listens, and waiting for one that calls.
	plays("caller", 3)
	w := livePublisher(t, ctx, 60, "mpegts", srtURL(listenPort, "streamid=feed"))
	plays("waiting", 2)
	disc0 := max(d.metric(`slabcast_discontinuities_total{stream="waiting"}`), 0)
	w.Process.Kill()
	w.Wait()
	time.Sleep(time.Second)
	livePublisher(t, ctx, 60, "mpegts", srtURL(listenPort, "streamid=feed"))
	d.waitMetric(`slabcast_discontinuities_total{stream="waiting"}`, 30*time.Second, func(v float64) bool { return v > disc0 })
	plays("waiting", 3)
	// The publisher on studio went on all along.
	plays("studio", 2)
	log := d.Log()
	for _, want := range []string{"publish to studio refused: pipeline: another publisher is active",
		"publish to event refused: pipeline: wrong password", // the passphrase's refusal, of the same peer and reason, is counted in its summary
		"publish to nosuch: no such stream", "slabcast takes publishers over SRT and plays over HTTP"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "panic") {
		t.Errorf("panic in the log:\n%s", log)
	}
}
