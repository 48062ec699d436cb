package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// HTTP MPEG-TS and HLS pull (issue "Live streams and every common
// source"): one slabcast relays another's /mpegts and its HLS playlist; what it serves plays and decodes; when
// the origin restarts the relay reconnects and goes on after a
// discontinuity; sources that answer 404, send what is not TS or never
// answer are counted by reason and retried, and disturb no other stream.
func TestHTTPPull(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	origin := startDaemon(t, `stream ch { input udp://239.1.7.1:5000; segment_duration 1; }`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.7.1:5000"})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, origin.base+"/ch/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}

	// Bad sources, on one local HTTP server of the test's own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		junk := []byte(strings.Repeat("this is no transport stream\n", 1000))
		for i := 0; i < 20 && r.Context().Err() == nil; i++ {
			if _, err := w.Write(junk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // headers, then nothing
	})
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	defer hs.Close()
	bad := "http://" + ln.Addr().String()

	relay := startDaemon(t, fmt.Sprintf(`stream relay { input tshttp://127.0.0.1:%d/ch/mpegts; segment_duration 1; source_timeout 3; }
stream hlsrelay { input hls://127.0.0.1:%d/ch/index.m3u8; segment_duration 1; source_timeout 4; }
stream e404 { input %s/nosuch; source_timeout 2; }
stream garbage { input %s/garbage; source_timeout 2; }
stream stall { input %s/stall; source_timeout 1; }
`, origin.port, origin.port, bad, bad, bad))
	pl := relay.base + "/relay/index.m3u8"
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 4)
	if err != nil {
		t.Fatalf("the relay does not play: %v\n%s", err, relay.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
	// The same origin pulled as HLS: its segments, in order, re-cut.
	hpl := relay.base + "/hlsrelay/index.m3u8"
	hlists, err := hlstest.Watch(ctx, hpl, 500*time.Millisecond, 4)
	if err != nil {
		t.Fatalf("the HLS relay does not play: %v\n%s", err, relay.Log())
	}
	checkSegments(t, hpl, hlists[len(hlists)-1])
	for _, c := range []struct{ stream, reason string }{
		{"e404", "status"}, {"garbage", "not_ts"}, {"stall", "read"},
	} {
		relay.waitMetric(fmt.Sprintf(`slabcast_input_errors_total{stream=%q,reason=%q}`, c.stream, c.reason), 15*time.Second,
			func(v float64) bool { return v >= 1 })
	}
	if v := relay.metric(`slabcast_input_skipped_bytes_total{stream="garbage"}`); v <= 0 {
		t.Errorf("the garbage source's bytes were not counted as skipped: %v", v)
	}

	// The origin restarts: the relay's pull breaks, is retried, and the
	// stream goes on after a discontinuity.
	disc0 := max(relay.metric(`slabcast_discontinuities_total{stream="relay"}`), 0)
	origin.restart()
	relay.waitMetric(`slabcast_input_errors_total{stream="relay",reason="read"}`, 15*time.Second, func(v float64) bool { return v >= 1 })
	relay.waitMetric(`slabcast_discontinuities_total{stream="relay"}`, 30*time.Second, func(v float64) bool { return v > disc0 })
	lists, err = hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatalf("the relay did not come back: %v\n%s", err, relay.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
	if hlists, err = hlstest.Watch(ctx, hpl, 500*time.Millisecond, 3); err != nil {
		t.Fatalf("the HLS relay did not come back: %v\n%s", err, relay.Log())
	}
	checkSegments(t, hpl, hlists[len(hlists)-1])
	t.Logf("the relay's log:\n%s", relay.Log())
	if log := relay.Log(); strings.Contains(log, "panic") {
		t.Fatalf("panic:\n%s", log)
	}
}

// A pull input takes part in failover like a UDP one: a stream whose
// primary is another slabcast's /mpegts moves to its UDP backup when the
// origin goes away, and back when it returns.
func TestPullFailover(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	origin := startDaemon(t, `stream ch { input udp://239.1.7.21:5000; segment_duration 1; }`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.7.21:5000"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.7.22:5000", Size: "320x180"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, origin.base+"/ch/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, fmt.Sprintf(`stream mix {
  input tshttp://127.0.0.1:%d/ch/mpegts priority=1 source_timeout=2;
  input udp://239.1.7.22:5000 priority=2 source_timeout=2;
  segment_duration 1;
}
`, origin.port))
	pl := d.base + "/mix/index.m3u8"
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	d.waitMetric(`slabcast_input_switches_total{stream="mix"}`, 5*time.Second, func(v float64) bool { return v == 0 })
	origin.stop()
	d.waitMetric(`slabcast_input_switches_total{stream="mix"}`, 15*time.Second, func(v float64) bool { return v == 1 })
	if !strings.Contains(d.Log(), fmt.Sprintf("input tshttp://127.0.0.1:%d/ch/mpegts -> udp://239.1.7.22:5000", origin.port)) {
		t.Errorf("the log does not show the move to the backup:\n%s", d.Log())
	}
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3)
	if err != nil {
		t.Fatalf("no playback on the backup: %v", err)
	}
	checkSegments(t, pl, lists[len(lists)-1])
	origin.launch()
	d.waitMetric(`slabcast_input_switches_total{stream="mix"}`, 30*time.Second, func(v float64) bool { return v == 2 })
	if lists, err = hlstest.Watch(ctx, pl, 500*time.Millisecond, 3); err != nil {
		t.Fatalf("no playback back on the pull: %v", err)
	}
	checkSegments(t, pl, lists[len(lists)-1])
}

// An ondemand stream pulling over HTTP opens its source at the first
// request, holds that request until the first segment exists (no 503, no
// long buffering), and closes the source clients_timeout after the last.
func TestPullOnDemand(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	origin := startDaemon(t, `stream ch { input udp://239.1.7.31:5000; segment_duration 1; }`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.7.31:5000"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, origin.base+"/ch/index.m3u8", 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, fmt.Sprintf("ondemand od { input tshttp://127.0.0.1:%d/ch/mpegts; segment_duration 1; clients_timeout 2; }\n", origin.port))
	pulls := func() float64 { return origin.metric(`slabcast_mpegts_clients{stream="ch"}`) }
	if n := pulls(); n != 0 {
		t.Fatalf("the origin has %v /mpegts clients before anyone asked the relay", n)
	}
	began := time.Now()
	p, err := hlstest.FetchPlaylist(ctx, d.base+"/od/index.m3u8")
	if err != nil {
		t.Fatalf("the first request of an ondemand pull: %v", err)
	}
	t.Logf("first playlist after %v, %d segments", time.Since(began).Round(10*time.Millisecond), len(p.Segments))
	if len(p.Segments) == 0 {
		t.Fatal("the held request got a playlist with no segment")
	}
	if n := pulls(); n != 1 {
		t.Errorf("the origin has %v /mpegts clients while the relay plays, want 1", n)
	}
	// No client for clients_timeout (2 s): the relay lets go of the origin.
	origin.waitMetric(`slabcast_mpegts_clients{stream="ch"}`, 15*time.Second, func(v float64) bool { return v == 0 })
	if st := sockDo(t, d, `{"cmd":"list"}`); len(st.Streams) != 1 || st.Streams[0].Status != "waiting" {
		t.Errorf("the idle ondemand stream: %s", st.Raw)
	}
}
