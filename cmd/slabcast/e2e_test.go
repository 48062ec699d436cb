package main

// End-to-end tests: the real binary, a real config file, real multicast
// from ffmpeg inside a private network namespace, and ffmpeg/ffprobe as the
// players.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds slabcast once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slabcast-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "slabcast")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testDaemon is a running `slabcast run`.
type testDaemon struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	conf    string
	sock    string // control socket
	port    int
	wrapper []string
	log     *bytes.Buffer
	mu      *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startDaemon writes config (with the http line added) and runs slabcast.
func startDaemon(t *testing.T, config string) *testDaemon {
	t.Helper()
	return startDaemonUnder(t, nil, config)
}

// startDaemonUnder runs slabcast through wrapper (a command and its
// arguments that take the command to run at the end, such as setpriv).
func startDaemonUnder(t *testing.T, wrapper []string, config string) *testDaemon {
	t.Helper()
	d := newTestDaemon(t, wrapper, config)
	d.start()
	return d
}

// newTestDaemon writes the config of a daemon in a directory of its own,
// for start to run.
func newTestDaemon(t *testing.T, wrapper []string, config string) *testDaemon {
	t.Helper()
	port := freePort(t, "tcp")
	dir := t.TempDir()
	conf := filepath.Join(dir, "slabcast.conf")
	memory := "memory 64M;\n"
	if strings.HasPrefix(config, "memory ") || strings.Contains(config, "\nmemory ") {
		memory = "" // the test's own
	}
	text := fmt.Sprintf("http 127.0.0.1:%d;\nctl %s;\n%s%s", port, filepath.Join(dir, "ctl.sock"), memory, config)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testDaemon{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), conf: conf, log: &bytes.Buffer{}, mu: &sync.Mutex{},
		sock: filepath.Join(dir, "ctl.sock"), port: port, wrapper: wrapper}
}

// start launches the daemon and stops it when the test ends.
func (d *testDaemon) start() {
	d.t.Helper()
	d.launch()
	d.t.Cleanup(func() {
		d.stop()
		if d.t.Failed() {
			d.t.Logf("slabcast log:\n%s", d.Log())
		}
	})
}

// launch starts the daemon and waits until it listens.
func (d *testDaemon) launch() {
	t := d.t
	t.Helper()
	args := append(append([]string(nil), d.wrapper...), binary(t), "run", "-c", d.conf)
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stdout = lockedWriter{d.mu, d.log}
	d.cmd.Stderr = lockedWriter{d.mu, d.log}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slabcast did not listen on %d:\n%s", d.port, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the daemon to end.
func (d *testDaemon) stop() {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-done
		d.t.Errorf("slabcast did not stop within 5 s of SIGTERM")
	}
}

// restart stops the daemon and starts it again on the same config file.
func (d *testDaemon) restart() {
	d.stop()
	d.launch()
}

func (d *testDaemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// metric returns the value of one series from /metrics, or -1 if absent.
func (d *testDaemon) metric(series string) float64 {
	d.t.Helper()
	b, _, err := hlstest.Fetch(context.Background(), d.base+"/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// waitMetric polls until cond holds for the series' value.
func (d *testDaemon) waitMetric(series string, within time.Duration, cond func(float64) bool) float64 {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := d.metric(series)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s = %v after %v", series, v, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// plays watches stream name's playlist until n segments went by, a
// player's rules holding, and checks what the last playlist lists
// (checkSegments).
func (d *testDaemon) plays(t *testing.T, ctx context.Context, name string, n int) {
	t.Helper()
	pl := d.base + "/" + name + "/index.m3u8"
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, n)
	if err != nil {
		t.Fatalf("%s does not play: %v\n%s", name, err, d.Log())
	}
	checkSegments(t, pl, lists[len(lists)-1])
}

// checkSegments fetches every segment of p and checks what a player needs:
// PAT first, a keyframe first, clean decode.
func checkSegments(t *testing.T, playlistURL string, p *hlstest.Playlist) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	for _, s := range p.Segments {
		u := hlstest.ResolveURI(playlistURL, s.URI)
		b, h, err := hlstest.Fetch(ctx, u)
		if err != nil {
			t.Fatalf("segment %s: %v", s.URI, err)
		}
		if ct := h.Get("Content-Type"); ct != "video/mp2t" {
			t.Errorf("segment %s: Content-Type %q", s.URI, ct)
		}
		if h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("segment %s: no CORS header", s.URI)
		}
		if !hlstest.FirstPacketIsPAT(b) {
			t.Errorf("segment %s: does not start with a PAT", s.URI)
		}
		if n := hlstest.ContinuityErrors(b); n != 0 {
			t.Errorf("segment %s: %d continuity errors", s.URI, n)
		}
		f := filepath.Join(dir, strconv.FormatUint(s.MSN, 10)+".ts")
		os.WriteFile(f, b, 0o644)
		key, pt, err := hlstest.FirstVideoFrame(ctx, f)
		if err != nil || !key {
			t.Errorf("segment %s: first video frame key=%v pict_type=%s err=%v", s.URI, key, pt, err)
		}
		if err := hlstest.Decode(ctx, f, 0); err != nil {
			t.Errorf("segment %s: %v", s.URI, err)
		}
		// The same URL gives the same bytes again (immutable segments).
		again, _, err := hlstest.Fetch(ctx, u)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("segment %s: second fetch differs (err %v)", s.URI, err)
		}
	}
}

func TestLiveMulticastH264(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	uniPort := freePort(t, "udp")
	d := startDaemon(t, fmt.Sprintf(`
stream ch1 {
  input udp://239.1.1.1:5000;
  segment_duration 1;
  segment_count 6;
}
stream ch2 udp://127.0.0.1:%d;
`, uniPort))
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.1.1:5000", Video: "h264", BFrames: 2})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: fmt.Sprintf("udp://127.0.0.1:%d", uniPort), Video: "h264"})

	pl := d.base + "/ch1/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// The first request is held until the first segment exists.
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 7)
	if err != nil {
		t.Fatal(err)
	}
	last := lists[len(lists)-1]
	if len(last.Segments) < 6 {
		t.Fatalf("playlist lists %d segments, want 6:\n%s", len(last.Segments), last.Raw)
	}
	b, h, err := hlstest.Fetch(ctx, pl)
	if err != nil {
		t.Fatal(err)
	}
	if ct := h.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Errorf("playlist Content-Type %q", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("playlist Cache-Control %q", cc)
	}
	_ = b
	checkSegments(t, pl, last)

	// ffmpeg plays the playlist and the HTTP MPEG-TS without an error.
	if err := hlstest.Decode(ctx, pl, 3); err != nil {
		t.Errorf("ffmpeg on the playlist: %v", err)
	}
	if err := hlstest.Decode(ctx, d.base+"/ch1/mpegts", 3); err != nil {
		t.Errorf("ffmpeg on /mpegts: %v", err)
	}
	checkLiveStart(t, d.base+"/ch1/mpegts")

	// The unicast stream plays too.
	if _, err := hlstest.Watch(ctx, d.base+"/ch2/index.m3u8", 500*time.Millisecond, 3); err != nil {
		t.Errorf("unicast stream: %v", err)
	}

	if v := d.metric(`slabcast_stream_up{stream="ch1"}`); v != 1 {
		t.Errorf("stream_up = %v", v)
	}
	if v := d.metric(`slabcast_segments_total{stream="ch1"}`); v < 7 {
		t.Errorf("segments_total = %v, want >= 7", v)
	}
	if v := d.metric(`slabcast_input_packets_total{stream="ch1"}`); v <= 0 {
		t.Errorf("input_packets_total = %v", v)
	}
	if v := d.metric(`slabcast_ts_errors_total{stream="ch1",indicator="Continuity_count_error"}`); v != 0 {
		t.Errorf("Continuity_count_error = %v on a clean loopback stream", v)
	}
	if v := d.metric(`slabcast_http_requests_total{code="200"}`); v <= 0 {
		t.Errorf("http_requests_total{code=200} = %v", v)
	}
	// Unknown streams and paths are 404, and do not disturb anything.
	for _, p := range []string{"/nope/index.m3u8", "/ch1/nope.ts", "/ch1/../etc/passwd", "/%00/index.m3u8", "/ch1/2026/01/01/00/00/00.000-02000.ts"} {
		resp, err := http.Get(d.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// checkLiveStart reads the start of /mpegts: PAT first, then PMT, and the
// first video PES a keyframe (ffprobe decides on a captured prefix).
func checkLiveStart(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp2t" {
		t.Fatalf("/mpegts: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, 188*2000)
	if _, err := io.ReadFull(bufio.NewReader(resp.Body), buf); err != nil {
		t.Fatal(err)
	}
	if !hlstest.FirstPacketIsPAT(buf) {
		t.Fatal("/mpegts does not start with a PAT")
	}
	f := filepath.Join(t.TempDir(), "live.ts")
	os.WriteFile(f, buf, 0o644)
	key, pt, err := hlstest.FirstVideoFrame(context.Background(), f)
	if err != nil || !key {
		t.Errorf("/mpegts: first video frame key=%v pict_type=%s err=%v", key, pt, err)
	}
}

func TestLiveMulticastOtherCodecs(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `
stream hevc { input udp://239.1.2.1:5000; segment_duration 1; }
stream mpeg2 { input udp://239.1.2.2:5000; segment_duration 1; }
`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.2.1:5000", Video: "hevc", Size: "320x180", Bitrate: "300k"})
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.2.2:5000", Video: "mpeg2", BFrames: 2, Size: "320x180", Bitrate: "800k"})
	for _, name := range []string{"hevc", "mpeg2"} {
		t.Run(name, func(t *testing.T) {
			pl := d.base + "/" + name + "/index.m3u8"
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 6)
			if err != nil {
				t.Fatal(err)
			}
			checkSegments(t, pl, lists[len(lists)-1])
			if err := hlstest.Decode(ctx, pl, 2); err != nil {
				t.Errorf("ffmpeg on the playlist: %v", err)
			}
		})
	}
}

// The source stops for longer than source_timeout and comes back: the stream
// goes down and up, the playlist marks the discontinuity and still plays.
func TestSourceOutage(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `
stream ch { input udp://239.1.3.1:5000; segment_duration 1; source_timeout 2; }
`)
	s1 := hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.3.1:5000"})
	pl := d.base + "/ch/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	d.waitMetric(`slabcast_stream_up{stream="ch"}`, 5*time.Second, func(v float64) bool { return v == 1 })
	s1.Stop()
	d.waitMetric(`slabcast_stream_up{stream="ch"}`, 6*time.Second, func(v float64) bool { return v == 0 })
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.3.1:5000"})
	d.waitMetric(`slabcast_stream_up{stream="ch"}`, 10*time.Second, func(v float64) bool { return v == 1 })
	var p *hlstest.Playlist
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		p, err = hlstest.FetchPlaylist(ctx, pl)
		if err != nil {
			t.Fatal(err)
		}
		if err := hlstest.Check(p); err != nil {
			t.Fatalf("%v\n%s", err, p.Raw)
		}
		n, after := 0, 0
		for _, s := range p.Segments {
			if s.Discontinuity {
				n++
			}
			if n > 0 {
				after++
			}
		}
		if n == 1 && after >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no discontinuity followed by 3 segments:\n%s", p.Raw)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if v := d.metric(`slabcast_discontinuities_total{stream="ch"}`); v != 1 {
		t.Errorf("discontinuities_total = %v, want 1", v)
	}
	if err := hlstest.Decode(ctx, pl, 3); err != nil {
		t.Errorf("ffmpeg across the discontinuity: %v", err)
	}
	checkSegments(t, pl, p)
}

// Garbage and truncated datagrams on the input port are counted and change
// nothing else: segments keep coming and play.
func TestGarbageInput(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `stream ch { input udp://239.1.4.1:5000; segment_duration 1; }`)
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.1.4.1:5000"})
	pl := d.base + "/ch/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 2); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", "239.1.4.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	garbage := [][]byte{
		[]byte("not a transport stream"),
		bytes.Repeat([]byte{0xff}, 1316),
		append([]byte{0x47}, make([]byte, 200)...),                   // a packet and a cut-off tail
		append([]byte{0x47, 0x1f, 0xff, 0x10}, make([]byte, 100)...), // a short packet
		{},
	}
	const rounds = 50
	sent := 0
	for i := 0; i < rounds; i++ {
		for _, g := range garbage {
			if _, err := c.Write(g); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The socket filter refuses them all before they cost a wake-up, and
	// counts each by reason.
	want := map[bpf.Reason]int{}
	for _, g := range garbage {
		want[bpf.Classify(bpf.KindTS, g)] += rounds
	}
	if want[bpf.Pass] != 0 || want[bpf.BadSize]+want[bpf.BadSync] != sent {
		t.Fatalf("the garbage is not what the test means: %v", want)
	}
	d.waitMetric(`slabcast_input_filtered_total{stream="ch",reason="bad_size"}`, 5*time.Second, func(v float64) bool { return v == float64(want[bpf.BadSize]) })
	d.waitMetric(`slabcast_input_filtered_total{stream="ch",reason="bad_sync"}`, 5*time.Second, func(v float64) bool { return v == float64(want[bpf.BadSync]) })
	before := d.metric(`slabcast_segments_total{stream="ch"}`)
	lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 8)
	if err != nil {
		t.Fatal(err)
	}
	if after := d.metric(`slabcast_segments_total{stream="ch"}`); after < before+3 {
		t.Fatalf("segments stalled: %v then %v", before, after)
	}
	checkSegments(t, pl, lists[len(lists)-1])
	if !strings.Contains(d.Log(), "serving http") {
		t.Error("daemon log lacks its start line")
	}
}

// startFeed runs `slabcast feed --loop FILE URL` until the test ends.
func startFeed(t *testing.T, file, url string) {
	t.Helper()
	cmd := exec.Command(binary(t), "feed", "--loop", file, url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("feed stderr:\n%s", stderr.String())
		}
	})
}

// A multi-program input feeds one playable stream per program=.
func TestMPTSTwoStreams(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	d := startDaemon(t, `
stream one { input udp://239.1.5.1:5000 program=1; segment_duration 1; }
stream two { input udp://239.1.5.1:5000 program=2; segment_duration 1; }
`)
	startFeed(t, "../../testdata/mpts.ts", "udp://239.1.5.1:5000")
	for _, name := range []string{"one", "two"} {
		t.Run(name, func(t *testing.T) {
			pl := d.base + "/" + name + "/index.m3u8"
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			lists, err := hlstest.Watch(ctx, pl, 500*time.Millisecond, 5)
			if err != nil {
				t.Fatal(err)
			}
			last := lists[len(lists)-1]
			checkSegments(t, pl, last)
			u := hlstest.ResolveURI(pl, last.Segments[0].URI)
			streams, err := hlstest.Probe(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if len(streams) != 2 {
				t.Fatalf("a segment of program %s carries %d streams, want 2: %+v", name, len(streams), streams)
			}
		})
	}
}
