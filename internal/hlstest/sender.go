package hlstest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SenderOptions describes a live test signal. Zero fields take the defaults
// given.
type SenderOptions struct {
	// URL is where to send: udp://HOST:PORT. pkt_size=1316 (7 TS packets a
	// datagram) is added, and ttl=1 when HOST is a multicast group, unless
	// the URL sets them. A multicast URL must only be used by a test that
	// called testnet.Require(t) (its package's TestMain calls testnet.Main),
	// so that nothing leaves the private network namespace.
	URL string
	// Video is "h264" (libx264, with AAC audio; the default), "hevc"
	// (libx265, with MP2 audio) or "mpeg2" (mpeg2video, with MP2 audio).
	Video string
	FPS   int // frames a second; default 25
	// GOP is the fixed distance between keyframes in frames (-g,
	// -keyint_min, no scene-cut keyframes); default FPS, one a second.
	GOP     int
	BFrames int    // B-frames between references (-bf); default 0
	Size    string // WxH; default "640x360"
	Bitrate string // video bitrate; default "600k"
	// Duration stops the signal after that much media (-t); 0 sends until
	// Stop.
	Duration time.Duration
	// ExtraArgs are output options added just before "-f mpegts URL", for
	// example {"-mpegts_service_id", "7"}.
	ExtraArgs []string
}

// Sender is a running ffmpeg that sends testsrc2 video and a sine tone as
// MPEG-TS over UDP in real time (-re). Its methods are safe for concurrent
// use.
type Sender struct {
	cmd    *exec.Cmd
	args   []string
	done   chan struct{}
	err    error // valid once done is closed
	stderr *tailBuffer
	stop   sync.Once
}

// senderArgs builds ffmpeg's command line for o.
func senderArgs(o SenderOptions) ([]string, error) {
	dst, err := senderURL(o.URL)
	if err != nil {
		return nil, err
	}
	fps := o.FPS
	if fps <= 0 {
		fps = 25
	}
	gop := o.GOP
	if gop <= 0 {
		gop = fps
	}
	size := o.Size
	if size == "" {
		size = "640x360"
	}
	rate := o.Bitrate
	if rate == "" {
		rate = "600k"
	}
	if o.BFrames < 0 {
		return nil, fmt.Errorf("hlstest: sender: BFrames %d < 0", o.BFrames)
	}
	g, bf := strconv.Itoa(gop), strconv.Itoa(o.BFrames)
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
		"-re", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", size, fps),
		"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-map", "1:a", "-pix_fmt", "yuv420p"}
	if o.Duration > 0 {
		args = append(args, "-t", strconv.FormatFloat(o.Duration.Seconds(), 'f', -1, 64))
	}
	switch o.Video {
	case "", "h264":
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast",
			"-g", g, "-keyint_min", g, "-sc_threshold", "0", "-bf", bf,
			"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
			"-c:a", "aac", "-b:a", "96k", "-ac", "2")
	case "hevc":
		args = append(args, "-c:v", "libx265", "-preset", "ultrafast", "-b:v", rate,
			"-x265-params", fmt.Sprintf("keyint=%d:min-keyint=%d:scenecut=0:bframes=%d:log-level=error", gop, gop, o.BFrames),
			"-c:a", "mp2", "-b:a", "128k", "-ac", "2")
	case "mpeg2":
		args = append(args, "-c:v", "mpeg2video", "-g", g, "-sc_threshold", "0", "-bf", bf,
			"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
			"-c:a", "mp2", "-b:a", "128k", "-ac", "2")
	default:
		return nil, fmt.Errorf("hlstest: sender: unknown video codec %q (want h264, hevc or mpeg2)", o.Video)
	}
	args = append(args, o.ExtraArgs...)
	return append(args, "-f", "mpegts", dst), nil
}

// senderURL checks a udp:// URL and adds pkt_size and, for multicast, ttl.
func senderURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("hlstest: sender URL: %w", err)
	}
	if u.Scheme != "udp" || u.Port() == "" {
		return "", fmt.Errorf("hlstest: sender URL %q: want udp://HOST:PORT", s)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil {
		return "", fmt.Errorf("hlstest: sender URL %q: host must be an IP address", s)
	}
	q := u.Query()
	if q.Get("pkt_size") == "" {
		q.Set("pkt_size", "1316")
	}
	if ip.IsMulticast() && q.Get("ttl") == "" {
		q.Set("ttl", "1")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// StartSender starts ffmpeg sending the signal o describes and registers
// Stop with t.Cleanup; when the test failed, the cleanup also logs ffmpeg's
// stderr. Bad options fail t. It calls RequireFFmpeg first. Sending to a
// multicast group is only allowed under testnet.Require (see
// SenderOptions.URL).
func StartSender(t testing.TB, o SenderOptions) *Sender {
	t.Helper()
	RequireFFmpeg(t)
	args, err := senderArgs(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sender{args: args, done: make(chan struct{}), stderr: &tailBuffer{max: 64 << 10}}
	s.cmd = exec.Command("ffmpeg", args...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("hlstest: starting ffmpeg: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("hlstest: sender ffmpeg %s\nstderr:\n%s", strings.Join(s.args, " "), s.Stderr())
		}
	})
	return s
}

// Stop ends the sender: SIGINT to its PID, SIGKILL after 2 s if it is still
// running. It returns once the process has exited; later calls return at
// once.
func (s *Sender) Stop() {
	s.stop.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
			return
		case <-time.After(2 * time.Second):
		}
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	})
	<-s.done
}

// Done is closed when the ffmpeg process has exited.
func (s *Sender) Done() <-chan struct{} { return s.done }

// Err returns how ffmpeg exited (nil for status 0), or nil while it runs.
func (s *Sender) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// PID returns the ffmpeg process id.
func (s *Sender) PID() int { return s.cmd.Process.Pid }

// Args returns ffmpeg's arguments.
func (s *Sender) Args() []string { return append([]string(nil), s.args...) }

// Stderr returns what ffmpeg wrote to stderr so far (the last 64 KiB).
func (s *Sender) Stderr() string { return s.stderr.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
