package publish

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/feed"
)

// segDur is every headend's segment duration.
const segDur = 2 * time.Second

// Run measures, for each N of cfg, slabcast taking N RTMP publishers, the
// ffmpeg fleet taking the same, and slabcast taking the same clip over UDP.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Ns) == 0 || cfg.Window <= 0 || cfg.Mbps <= 0 {
		return nil, errors.New("publish: config needs Ns, Window and Mbps")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := sender.Check(cfg.SenderCPU, cfg.ReceiverCPU); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	tools := []string{"ffmpeg"}
	if err := daemon.Tools(true, cfg.Binary == "", tools...); err != nil {
		return nil, err
	}
	rep := &Report{Run: report.Begin(), Config: cfg}
	scratch, err := os.MkdirTemp("", "slabcast-publish-")
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer os.RemoveAll(scratch)
	bin, err := daemon.Binary(ctx, cfg.Binary, cfg.Root, scratch, logf)
	if err != nil {
		return nil, err
	}
	path, err := clip.ChannelOr(ctx, cfg.ClipDir, cfg.Mbps, cfg.FallbackClip, logf)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	fc, err := feed.LoadClip(path)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	rep.Rate = fc.Bitrate()
	systems := []measure{slabcastRTMP, slabcastUDP}
	if cfg.FFmpeg {
		systems = []measure{slabcastRTMP, ffmpegRTMP, slabcastUDP}
	}
	for _, n := range cfg.Ns {
		for _, measure := range systems {
			dir, err := os.MkdirTemp(scratch, "point-")
			if err != nil {
				return nil, err
			}
			p, err := measure(ctx, cfg, bin, path, dir, n)
			if err != nil {
				return nil, fmt.Errorf("publish: %d streams: %w", n, err)
			}
			p.Expected = float64(n) * rep.Rate / 8 * p.Window.Seconds()
			logf("%-22s × %3d: %.3f%% of a core a stream, %d of %d up, %.1f Mbit/s in %s", p.System, n, p.PerStream(), p.Up, n, p.Offered(), p.Note)
			rep.Points = append(rep.Points, p)
		}
	}
	rep.End()
	return rep, nil
}

// measure measures one headend with n streams of the clip at path, its
// files in dir.
type measure func(ctx context.Context, cfg Config, bin, path, dir string, n int) (Point, error)

// publishers starts one ffmpeg per URL sending clip, looped and paced,
// as FLV, on cpu.
func publishers(cpu int, clip string, urls []string, logDir string) ([]*exec.Cmd, error) {
	var cmds []*exec.Cmd
	for i, u := range urls {
		argv := daemon.Pinned(strconv.Itoa(cpu), "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
			"-re", "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", u)
		c, err := command(argv, filepath.Join(logDir, fmt.Sprintf("publisher%d.log", i)))
		if err == nil {
			err = c.Start()
		}
		if err != nil {
			stopAll(cmds)
			return nil, fmt.Errorf("starting a publisher: %w", err)
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// command makes a process that dies with the benchmark and logs to path.
func command(argv []string, path string) (*exec.Cmd, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = f, f
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return c, nil
}

// stopAll ends the processes we started, by their PID, and reaps them.
func stopAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		if c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range cmds {
		if c.Process == nil {
			continue
		}
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}

// daemonPoint runs slabcast with streams (and extra config), starts what
// feeds them with start, waits until every stream has a segment, and
// measures the daemon over the window.
func daemonPoint(ctx context.Context, cfg Config, system, bin, dir string, n int, streams []daemon.Stream, extra string,
	start func() ([]*exec.Cmd, error)) (Point, error) {
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, Streams: streams, CPUs: strconv.Itoa(cfg.ReceiverCPU),
		FeedCPUs: strconv.Itoa(cfg.SenderCPU), Memory: int64(n)*16<<20 + 64<<20, SegmentDuration: segDur, Extra: extra})
	if err != nil {
		return Point{}, err
	}
	defer d.Stop()
	senders, err := start()
	if err != nil {
		return Point{}, err
	}
	defer stopAll(senders)
	for _, s := range streams {
		if _, err := d.WaitSegments(ctx, s.Name, 1, 30*time.Second); err != nil {
			return Point{}, fmt.Errorf("%s: %w: %s", system, err, tail(d.Log()))
		}
	}
	m0, err := d.Metrics(ctx)
	if err != nil {
		return Point{}, err
	}
	cpu0, err := proc.ProcessCPU(d.PID())
	if err != nil {
		return Point{}, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return Point{}, ctx.Err()
	case <-time.After(cfg.Window):
	}
	cpu1, err := proc.ProcessCPU(d.PID())
	if err != nil {
		return Point{}, err
	}
	window := time.Since(t0)
	m1, err := d.Metrics(ctx)
	if err != nil {
		return Point{}, err
	}
	p := Point{System: system, N: n, CPU: cpu1 - cpu0, Window: window,
		BytesIn: m1.Sum("slabcast_input_bytes_total") - m0.Sum("slabcast_input_bytes_total")}
	for _, s := range streams {
		if m1.Stream("slabcast_input_bytes_total", s.Name, "") > m0.Stream("slabcast_input_bytes_total", s.Name, "") {
			p.Up++
		}
	}
	return p, nil
}

func slabcastRTMP(ctx context.Context, cfg Config, bin, clipPath, dir string, n int) (Point, error) {
	port, err := daemon.FreePort()
	if err != nil {
		return Point{}, err
	}
	streams := make([]daemon.Stream, n)
	urls := make([]string, n)
	for i := range streams {
		streams[i] = daemon.Stream{Name: daemon.ChannelName(i), Input: "publish://"}
		urls[i] = fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, streams[i].Name)
	}
	return daemonPoint(ctx, cfg, SlabcastRTMP, bin, dir, n, streams, fmt.Sprintf("rtmp 127.0.0.1:%d;\n", port), func() ([]*exec.Cmd, error) {
		return publishers(cfg.SenderCPU, clipPath, urls, dir)
	})
}

func slabcastUDP(ctx context.Context, cfg Config, bin, clipPath, dir string, n int) (Point, error) {
	streams := make([]daemon.Stream, n)
	for i := range streams {
		port, err := freeUDPPort()
		if err != nil {
			return Point{}, err
		}
		streams[i] = daemon.Stream{Name: daemon.ChannelName(i), Input: fmt.Sprintf("udp://127.0.0.1:%d", port), Feed: clipPath}
	}
	return daemonPoint(ctx, cfg, SlabcastUDP, bin, dir, n, streams, "", func() ([]*exec.Cmd, error) { return nil, nil })
}

// ffmpegRTMP runs one `ffmpeg -listen 1 -i rtmp://… -c copy -f hls` per
// stream on the receiver core, each on a port of its own, and measures the
// fleet while the publishers send.
func ffmpegRTMP(ctx context.Context, cfg Config, bin, clipPath, dir string, n int) (Point, error) {
	var servers []*exec.Cmd
	defer func() { stopAll(servers) }()
	urls := make([]string, n)
	ports := make([]int, n)
	for i := 0; i < n; i++ {
		port, err := daemon.FreePort()
		if err != nil {
			return Point{}, err
		}
		ports[i] = port
		out := filepath.Join(dir, daemon.ChannelName(i))
		if err := os.MkdirAll(out, 0o755); err != nil {
			return Point{}, err
		}
		urls[i] = fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", port, daemon.ChannelName(i))
		argv := daemon.Pinned(strconv.Itoa(cfg.ReceiverCPU), "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
			"-listen", "1", "-i", urls[i], "-map", "0", "-c", "copy", "-f", "hls",
			"-hls_time", strconv.FormatFloat(segDur.Seconds(), 'f', -1, 64), "-hls_list_size", "6",
			"-hls_segment_filename", filepath.Join(out, "seg%06d.ts"), filepath.Join(out, "index.m3u8"))
		c, err := command(argv, filepath.Join(dir, fmt.Sprintf("server%d.log", i)))
		if err == nil {
			err = c.Start()
		}
		if err != nil {
			return Point{}, fmt.Errorf("starting ffmpeg: %w", err)
		}
		servers = append(servers, c)
	}
	if err := waitListening(ctx, ports, 20*time.Second); err != nil {
		return Point{}, err
	}
	pubs, err := publishers(cfg.SenderCPU, clipPath, urls, dir)
	if err != nil {
		return Point{}, err
	}
	defer stopAll(pubs)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < n; i++ {
		for segments(filepath.Join(dir, daemon.ChannelName(i))) == 0 {
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("server%d.log", i)))
				return Point{}, fmt.Errorf("%s: stream %d wrote no segment within 30 s: %s", FFmpegRTMP, i, tail(string(log)))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before := make([]int, n)
	for i := range before {
		before[i] = segments(filepath.Join(dir, daemon.ChannelName(i)))
	}
	cpu := func() (time.Duration, error) {
		var sum time.Duration
		for _, s := range servers {
			t, err := proc.ProcessCPU(s.Process.Pid)
			if err != nil {
				return 0, err
			}
			sum += t
		}
		return sum, nil
	}
	cpu0, err := cpu()
	if err != nil {
		return Point{}, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return Point{}, ctx.Err()
	case <-time.After(cfg.Window):
	}
	cpu1, err := cpu()
	if err != nil {
		return Point{}, err
	}
	p := Point{System: FFmpegRTMP, N: n, CPU: cpu1 - cpu0, Window: time.Since(t0)}
	var written int64
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, daemon.ChannelName(i))
		if segments(d) > before[i] {
			p.Up++
		}
		written += segmentBytes(d, before[i])
	}
	// What ffmpeg took in is what it wrote: the segments begun after the
	// window opened, whole (their tails fall after it, as their heads
	// before it, about evenly).
	p.BytesIn = float64(written)
	p.Note = "bytes in: segments written"
	return p, nil
}

// segments counts the segment files ffmpeg wrote in dir.
func segments(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "seg*.ts"))
	return len(m)
}

// segmentBytes sums the sizes of segment files numbered from first on.
func segmentBytes(dir string, first int) int64 {
	var n int64
	for i := first; ; i++ {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("seg%06d.ts", i)))
		if err != nil {
			return n
		}
		n += fi.Size()
	}
}

// waitListening waits until every port has a TCP socket listening on it
// (/proc/net/tcp), without connecting: ffmpeg -listen 1 takes one
// connection only.
func waitListening(ctx context.Context, ports []int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			return err
		}
		listening := map[int]bool{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 || f[3] != "0A" {
				continue
			}
			if _, hex, ok := strings.Cut(f[1], ":"); ok {
				if p, err := strconv.ParseUint(hex, 16, 16); err == nil {
					listening[int(p)] = true
				}
			}
		}
		all := true
		for _, p := range ports {
			all = all && listening[p]
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ffmpeg did not listen on every port within %v", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
