// Package slabd runs slabcast as the benchmarks of issue 5 see it from the
// outside: the real binary (built from the module with go build) as a child
// process with a generated config, fed by `slabcast feed --loop` child
// processes, each optionally pinned to cores with taskset, plus a clip of a
// chosen bitrate made on the fly with ffmpeg. The delivery and fan-out
// benchmarks share it; CPU time is read per process from /proc, so the
// daemon's cost is separable from the feeders' and the load generators'.
//
// A Daemon is safe for concurrent use by its methods' callers (they only
// read); Stop it once.
package slabd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build compiles cmd/slabcast of the module at root into dir and returns
// the binary's path.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "slabcast")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/slabcast")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("slabd: go build ./cmd/slabcast: %w: %s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// ClipRecipe says how MakeClip encodes; it is quoted in results files.
const ClipRecipe = "ffmpeg testsrc2 1280x720 25 fps, libx264 ultrafast, CBR (nal-hrd=cbr), GOP 50 (a keyframe every 2 s, no scene cut), AAC 128 kbit/s, PCR every 20 ms, 10 s"

// MakeClip encodes a 10 s MPEG-TS clip of about bitrate bit/s in total
// (ClipRecipe) into dir with ffmpeg and returns its path.
func MakeClip(ctx context.Context, dir string, bitrate float64) (string, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return "", fmt.Errorf("slabd: ffmpeg: %w", err)
	}
	// The video gets what is left after audio and about 6% of TS and PES
	// overhead.
	video := int(bitrate*0.94) - 128_000
	if video < 100_000 {
		return "", fmt.Errorf("slabd: bitrate %.0f too low for a clip", bitrate)
	}
	path := filepath.Join(dir, fmt.Sprintf("clip-%dk.ts", int(bitrate/1000)))
	v := strconv.Itoa(video)
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-t", "10", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=9.96",
		"-map", "0:v", "-map", "1:a",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
		"-b:v", v, "-minrate", v, "-maxrate", v, "-bufsize", v,
		"-x264-params", "nal-hrd=cbr:force-cfr=1",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2",
		"-pcr_period", "20", "-f", "mpegts", path}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("slabd: ffmpeg: %w: %s", err, bytes.TrimSpace(out))
	}
	return path, nil
}

// Stream is one channel of the daemon's config.
type Stream struct {
	Name  string // stream name: the URL prefix /NAME/
	Group string // multicast group:port it is fed on
	Clip  string // MPEG-TS file `slabcast feed --loop` sends to Group
}

// Options start a Daemon.
type Options struct {
	Bin             string // the slabcast binary (Build)
	Dir             string // config, control socket and logs go here
	Streams         []Stream
	SegmentDuration int    // seconds
	SegmentCount    int    // segments listed in the playlist
	Memory          string // slab pool, config syntax ("256M")
	// CPUs is the taskset list the daemon runs on (also its config's cpus
	// line); FeedCPUs the feeders'. Empty: not pinned.
	CPUs, FeedCPUs string
	// Env is added to the daemon's environment (GOGC=…, GODEBUG=…).
	Env []string
}

// Daemon is a running slabcast with its feeders.
type Daemon struct {
	cmd   *exec.Cmd
	feeds []*exec.Cmd
	base  string
	log   *os.File
	done  chan struct{}
	err   error // the daemon's exit, valid once done is closed
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("slabd: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pinned prefixes argv with taskset when cpus is not empty.
func pinned(cpus string, argv ...string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// Start writes the config, starts the daemon, waits until it answers HTTP,
// then starts one feeder per stream.
func Start(ctx context.Context, o Options) (*Daemon, error) {
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = 2
	}
	if o.SegmentCount <= 0 {
		o.SegmentCount = 6
	}
	if o.Memory == "" {
		o.Memory = "256M"
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "http 127.0.0.1:%d;\nctl %s;\nmemory %s;\n", port, filepath.Join(o.Dir, "ctl.sock"), o.Memory)
	if o.CPUs != "" {
		fmt.Fprintf(&conf, "cpus %s;\n", o.CPUs)
	}
	for _, s := range o.Streams {
		fmt.Fprintf(&conf, "stream %s {\n  input udp://%s;\n  segment_duration %d;\n  segment_count %d;\n}\n",
			s.Name, s.Group, o.SegmentDuration, o.SegmentCount)
	}
	path := filepath.Join(o.Dir, "slabcast.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		return nil, fmt.Errorf("slabd: %w", err)
	}
	log, err := os.Create(filepath.Join(o.Dir, "slabcast.log"))
	if err != nil {
		return nil, fmt.Errorf("slabd: %w", err)
	}
	argv := pinned(o.CPUs, o.Bin, "run", "-c", path)
	d := &Daemon{base: fmt.Sprintf("http://127.0.0.1:%d", port), log: log, done: make(chan struct{})}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.Env = append(os.Environ(), o.Env...)
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("slabd: start %s: %w", o.Bin, err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	if err := d.waitHTTP(ctx, 10*time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	for _, s := range o.Streams {
		argv := pinned(o.FeedCPUs, o.Bin, "feed", "--loop", s.Clip, "udp://"+s.Group)
		f := exec.Command(argv[0], argv[1:]...)
		f.Stdout, f.Stderr = log, log
		if err := f.Start(); err != nil {
			d.Stop()
			return nil, fmt.Errorf("slabd: start feeder: %w", err)
		}
		d.feeds = append(d.feeds, f)
	}
	return d, nil
}

func (d *Daemon) waitHTTP(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("slabd: slabcast exited: %v; log:\n%s", d.err, d.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := d.Get(ctx, "/metrics"); err == nil {
			return nil
		}
	}
	return fmt.Errorf("slabd: slabcast did not answer on %s within %v; log:\n%s", d.base, limit, d.Log())
}

// Base is the daemon's HTTP root, http://127.0.0.1:PORT.
func (d *Daemon) Base() string { return d.base }

// Addr is the daemon's HTTP address, 127.0.0.1:PORT.
func (d *Daemon) Addr() string { return strings.TrimPrefix(d.base, "http://") }

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// FeedPIDs are the feeders' process ids.
func (d *Daemon) FeedPIDs() []int {
	var p []int
	for _, f := range d.feeds {
		p = append(p, f.Process.Pid)
	}
	return p
}

// Log returns the daemon's and feeders' output so far (at most 8 KiB, the end).
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.log.Name())
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

var client = &http.Client{Timeout: 10 * time.Second}

// Get fetches path from the daemon and returns the body of a 200 answer.
func (d *Daemon) Get(ctx context.Context, path string) ([]byte, error) {
	return GetURL(ctx, d.base+path)
}

// GetURL fetches url and returns the body of a 200 answer.
func GetURL(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("slabd: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("slabd: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("slabd: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("slabd: GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// SegmentURIs returns the media URIs a playlist lists, in order.
func SegmentURIs(playlist []byte) []string {
	var uris []string
	sc := bufio.NewScanner(bytes.NewReader(playlist))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			uris = append(uris, line)
		}
	}
	return uris
}

// WaitSegments polls /NAME/index.m3u8 until it lists at least n segments
// and returns the playlist.
func (d *Daemon) WaitSegments(ctx context.Context, name string, n int, limit time.Duration) ([]byte, error) {
	deadline := time.Now().Add(limit)
	var last []byte
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return nil, fmt.Errorf("slabd: slabcast exited: %v; log:\n%s", d.err, d.Log())
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		if pl, err := d.Get(ctx, "/"+name+"/index.m3u8"); err == nil {
			last = pl
			if len(SegmentURIs(pl)) >= n {
				return pl, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("slabd: /%s/index.m3u8 listed %d segments after %v, want %d; log:\n%s",
		name, len(SegmentURIs(last)), limit, n, d.Log())
}

// Metrics scrapes /metrics into a map keyed by the series as written,
// name{labels}.
func (d *Daemon) Metrics(ctx context.Context) (map[string]float64, error) {
	body, err := d.Get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(body), nil
}

// ParseMetrics reads Prometheus text exposition into a map keyed by
// name{labels}; comments and unparsable lines are skipped.
func ParseMetrics(body []byte) map[string]float64 {
	m := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// Stop ends the feeders and the daemon (SIGTERM, then SIGKILL after 5 s)
// and waits for them.
func (d *Daemon) Stop() error {
	for _, f := range d.feeds {
		stopCmd(f, nil)
	}
	d.feeds = nil
	var err error
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			err = errors.New("slabd: slabcast did not stop on SIGTERM within 5 s")
		}
	}
	d.log.Close()
	return err
}

// stopCmd ends a child started with Start (not Run): SIGTERM, SIGKILL after
// 3 s. done, when not nil, is closed by the caller's own Wait.
func stopCmd(c *exec.Cmd, done chan struct{}) {
	if c.Process == nil {
		return
	}
	c.Process.Signal(syscall.SIGTERM)
	if done == nil {
		done = make(chan struct{})
		go func() { c.Wait(); close(done) }()
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.Process.Kill()
		<-done
	}
}
