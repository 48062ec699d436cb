//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// rtspServer is GStreamer's gst-rtsp-server (testdata/rtsp_server.py):
// an RTSP server not written by us, as a camera or an encoder would be.
type rtspServer struct {
	cmd  *exec.Cmd
	port int
	args []string
}

// startRTSPServer starts the server with args (see the script's --help),
// on port (0: any), and waits until it listens.
func startRTSPServer(t *testing.T, port int, args ...string) *rtspServer {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gst-rtsp-server is missing (make deps: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly): %v", err)
		}
		t.Skipf("gst-rtsp-server is missing: %v", err)
	}
	s := &rtspServer{args: args}
	s.start(t, port)
	return s
}

func (s *rtspServer) start(t *testing.T, port int) {
	t.Helper()
	args := append([]string{"testdata/rtsp_server.py", "--port", fmt.Sprint(port), "--lifetime", "300", "--exit-on-stdin-eof"}, s.args...)
	cmd := exec.Command("/usr/bin/python3", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	_ = stdin // held open: the server exits when the test process goes
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	t.Cleanup(s.stop)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the RTSP server ended before it was ready: %s", stderr.String())
			}
			if p, found := strings.CutPrefix(l, "PORT "); found {
				fmt.Sscan(p, &s.port)
			}
			if l == "READY" {
				go func() {
					for range lines {
					}
				}()
				return
			}
		case <-deadline:
			t.Fatalf("the RTSP server was not ready within 30 s: %s", stderr.String())
		}
	}
}

// stop ends the server (by its PID, as we started it).
func (s *rtspServer) stop() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

// RTSP pull (issue "Live streams and every common source"): from
// GStreamer's RTSP server, H.264 with AAC over TCP and over UDP with
// Digest authentication, HEVC, and MPEG-TS over RTP; each plays and
// decodes. A wrong password is an error counted by its status, with the
// password kept out of the log; the server restarts and the stream comes
// back, a discontinuity between; an ondemand RTSP stream holds its first
// request until a segment exists. A server that answers nonsense, and one
// that never answers, are counted and disturb nothing.
func TestRTSPPull(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	auth := []string{"--user", "cam", "--password", "pw-secret-1", "--auth", "digest"}
	h264 := startRTSPServer(t, 0, append([]string{"--codec", "h264", "--audio", "--bframes", "2", "--path", "/source"}, auth...)...)
	hevc := startRTSPServer(t, 0, "--codec", "h265", "--path", "/hevc")
	mp2t := startRTSPServer(t, 0, "--codec", "mp2t", "--audio", "--path", "/ts")
	// A server that answers nonsense, and one that never answers.
	nonsense, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nonsense.Close()
	go func() {
		for {
			c, err := nonsense.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nthis is not RTSP\r\n\r\n\x00\xff\x00"))
			c.Close()
		}
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	src := func(s *rtspServer, creds, path string) string {
		return fmt.Sprintf("rtsp://%s127.0.0.1:%d%s", creds, s.port, path)
	}
	d := startDaemon(t, fmt.Sprintf(`stream cam { input %s; segment_duration 1; source_timeout 3; }
stream camudp { input %s rtp=udp; segment_duration 1; }
stream hevc { input %s; segment_duration 1; }
stream ts { input %s; segment_duration 1; }
stream badpass { input %s; segment_duration 1; }
stream nonsense { input rtsp://%s/x; segment_duration 1; }
stream silent { input rtsp://%s/x; segment_duration 1; source_timeout 2; }
ondemand ipcam { input %s; segment_duration 1; clients_timeout 5; }
`, src(h264, "cam:pw-secret-1@", "/source"), src(h264, "cam:pw-secret-1@", "/source"), src(hevc, "", "/hevc"),
		src(mp2t, "", "/ts"), src(h264, "cam:wrong-pass@", "/source"), nonsense.Addr(), silent.Addr(),
		src(h264, "cam:pw-secret-1@", "/source")))
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	plays := func(name string, n int) { t.Helper(); d.plays(t, ctx, name, n) }
	plays("cam", 3)
	plays("camudp", 3)
	plays("hevc", 2)
	plays("ts", 2)
	probe := func(name string) string {
		p, err := hlstest.FetchPlaylist(ctx, d.base+"/"+name+"/index.m3u8")
		if err != nil || len(p.Segments) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		info, err := hlstest.Probe(ctx, hlstest.ResolveURI(d.base+"/"+name+"/index.m3u8", p.Segments[len(p.Segments)-1].URI))
		if err != nil {
			t.Fatal(err)
		}
		var codecs []string
		for _, s := range info {
			codecs = append(codecs, s.CodecName)
		}
		return strings.Join(codecs, ",")
	}
	for name, want := range map[string]string{"cam": "h264,aac", "camudp": "h264,aac", "hevc": "hevc", "ts": "h264,aac"} {
		if got := probe(name); got != want {
			t.Errorf("%s carries %s, want %s", name, got, want)
		}
	}
	// The wrong password: a status error, counted; no password in the log.
	d.waitMetric(`slabcast_input_errors_total{stream="badpass",reason="status"}`, 20*time.Second, func(v float64) bool { return v >= 1 })
	d.waitMetric(`slabcast_input_errors_total{stream="nonsense",reason="connect"}`, 20*time.Second, func(v float64) bool { return v >= 1 })
	d.waitMetric(`slabcast_input_errors_total{stream="silent",reason="connect"}`, 40*time.Second, func(v float64) bool { return v >= 1 })
	log := d.Log()
	if strings.Contains(log, "wrong-pass") || strings.Contains(log, "pw-secret-1") {
		t.Errorf("a password reached the log:\n%s", log)
	}
	if !strings.Contains(log, "401") {
		t.Errorf("the log does not say the server answered 401:\n%s", log)
	}

	// Ondemand: the first request is held until a segment exists.
	start := time.Now()
	p, err := hlstest.FetchPlaylist(ctx, d.base+"/ipcam/index.m3u8")
	if err != nil || len(p.Segments) == 0 {
		t.Fatalf("the first request of an ondemand RTSP stream: %v, %v", p, err)
	}
	t.Logf("ondemand RTSP: the first playlist came after %v", time.Since(start).Round(time.Millisecond))

	// The server restarts: the stream goes down, then comes back.
	disc0 := max(d.metric(`slabcast_discontinuities_total{stream="cam"}`), 0)
	port := h264.port
	h264.stop()
	d.waitMetric(`slabcast_stream_up{stream="cam"}`, 20*time.Second, func(v float64) bool { return v == 0 })
	h264.start(t, port)
	d.waitMetric(`slabcast_discontinuities_total{stream="cam"}`, 60*time.Second, func(v float64) bool { return v > disc0 })
	plays("cam", 3)
	if log := d.Log(); strings.Contains(log, "panic") {
		t.Errorf("panic in the log:\n%s", log)
	}
}
