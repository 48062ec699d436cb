// Package daemon runs slabcast as the benchmarks see it from the outside:
// the real binary, built from the module, as a child process with a
// generated config, optionally pinned to cores with taskset and fed by
// `slabcast feed --loop` child processes. It waits until the daemon serves
// every stream, scrapes /metrics, fetches playlists and segments, and
// stops the daemon and its feeders by their process ids. CPU time and
// memory are read per process (bench/internal/proc), so the daemon's cost
// is separable from the feeders' and the load generators'.
//
// A Daemon's methods may be called from several goroutines; Stop it once.
package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/internal/testnet"
)

// Build compiles cmd/slabcast of the module at root into dir and returns
// the binary's path.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "slabcast")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/slabcast")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("daemon: go build ./cmd/slabcast: %w: %s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// DescribeTree says which source a binary built from root came from: the
// commit, and the product files (outside bench/) changed since.
func DescribeTree(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "a tree outside git"
	}
	desc := "commit " + string(bytes.TrimSpace(out))
	changed, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", ".", ":!bench").Output()
	if err == nil && len(bytes.TrimSpace(changed)) > 0 {
		var files []string
		for line := range bytes.Lines(changed) {
			if len(line) > 3 {
				files = append(files, string(bytes.TrimSpace(line[3:])))
			}
		}
		desc += " with uncommitted changes to " + strings.Join(files, ", ")
	}
	return desc
}

// Stream is one stream of the daemon's config.
type Stream struct {
	Name  string // the URL prefix /NAME/
	Input string // its input, udp://GROUP:PORT
	Feed  string // an MPEG-TS file `slabcast feed --loop` sends to Input; "" for none
	// Lines are more directives for the stream's block, each ending in
	// ';' (`drm aes128 keyserver=URL;`).
	Lines []string
}

// Options start a Daemon.
type Options struct {
	Bin     string // the slabcast binary (Build)
	Dir     string // config, control socket and log go here
	Streams []Stream
	// CPUs is the taskset list the daemon runs under, and its config's cpus
	// line; FeedCPUs the feeders'. Empty: not pinned.
	CPUs, FeedCPUs string
	Memory         int64 // the slab pool in bytes (whole MiB); 0: 256 MiB
	// SegmentDuration and SegmentCount set every stream's window; zero
	// leaves slabcast's defaults.
	SegmentDuration time.Duration
	SegmentCount    int
	Env             []string // added to the daemon's environment (GOGC=…, GODEBUG=…)
	Extra           string   // more global config lines (`rtmp 127.0.0.1:1935;`)
}

// Config returns the config file for o, listening on httpAddr.
func (o Options) Config(httpAddr string) string {
	memory := o.Memory
	if memory <= 0 {
		memory = 256 << 20
	}
	var b strings.Builder
	fmt.Fprintf(&b, "http %s;\nctl %s;\n", httpAddr, filepath.Join(o.Dir, "ctl.sock"))
	if o.CPUs != "" {
		fmt.Fprintf(&b, "cpus %s;\n", o.CPUs)
	}
	fmt.Fprintf(&b, "memory %dM;\n", memory>>20)
	b.WriteString(o.Extra)
	for _, s := range o.Streams {
		fmt.Fprintf(&b, "stream %s {\n  input %s;\n", s.Name, s.Input)
		if o.SegmentDuration > 0 {
			fmt.Fprintf(&b, "  segment_duration %s;\n", strconv.FormatFloat(o.SegmentDuration.Seconds(), 'f', -1, 64))
		}
		if o.SegmentCount > 0 {
			fmt.Fprintf(&b, "  segment_count %d;\n", o.SegmentCount)
		}
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// Daemon is a running slabcast with its feeders.
type Daemon struct {
	cmd   *exec.Cmd
	feeds []*exec.Cmd
	addr  netip.AddrPort
	log   *os.File
	done  chan struct{}
	err   error // the daemon's exit, valid once done is closed
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("daemon: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Pinned prefixes argv with `taskset -c cpus` when cpus is not empty.
func Pinned(cpus string, argv ...string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

// child makes a command that dies with the benchmark (SIGKILL when the
// thread that started it ends) and logs to log.
func child(argv []string, log io.Writer) *exec.Cmd {
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = log, log
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return c
}

// Start writes the config, starts the daemon, waits until /metrics lists
// every stream running, then starts a feeder for every stream with a Feed;
// feeders send multicast, so Start refuses them outside a private network
// namespace.
func Start(ctx context.Context, o Options) (*Daemon, error) {
	for _, s := range o.Streams {
		if s.Feed != "" && !testnet.Isolated() {
			return nil, errors.New("daemon: refusing to feed multicast outside a private network namespace")
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	d := &Daemon{addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)), done: make(chan struct{})}
	path := filepath.Join(o.Dir, "slabcast.conf")
	if err := os.WriteFile(path, []byte(o.Config(d.addr.String())), 0o644); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if d.log, err = os.Create(filepath.Join(o.Dir, "slabcast.log")); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.cmd = child(Pinned(o.CPUs, o.Bin, "run", "-c", path), d.log)
	d.cmd.Env = append(os.Environ(), o.Env...)
	if err := d.cmd.Start(); err != nil {
		d.log.Close()
		return nil, fmt.Errorf("daemon: starting slabcast: %w", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	if err := d.waitStreams(ctx, len(o.Streams), 15*time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	for _, s := range o.Streams {
		if s.Feed == "" {
			continue
		}
		f := child(Pinned(o.FeedCPUs, o.Bin, "feed", "--loop", s.Feed, s.Input), d.log)
		if err := f.Start(); err != nil {
			d.Stop()
			return nil, fmt.Errorf("daemon: starting a feeder: %w", err)
		}
		d.feeds = append(d.feeds, f)
	}
	return d, nil
}

func (d *Daemon) waitStreams(ctx context.Context, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		m, err := d.Metrics(ctx)
		if err == nil && len(m.Streams("slabcast_stream_running")) == n {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("daemon: slabcast exited at start: %v: %s", d.err, d.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon: slabcast did not serve /metrics with %d streams within %v (%v): %s", n, limit, err, d.Log())
		}
	}
}

// PID is the daemon's process id (taskset execs it, so it is slabcast's).
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// HTTP is the daemon's HTTP address.
func (d *Daemon) HTTP() netip.AddrPort { return d.addr }

// Addr is the daemon's HTTP address, 127.0.0.1:PORT.
func (d *Daemon) Addr() string { return d.addr.String() }

// Base is the daemon's HTTP root, http://127.0.0.1:PORT.
func (d *Daemon) Base() string { return "http://" + d.addr.String() }

// LogPath is the file the daemon and its feeders write to.
func (d *Daemon) LogPath() string { return d.log.Name() }

// Log returns the end of what the daemon and its feeders wrote, at most
// 8 KiB.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.log.Name())
	if len(b) > 8<<10 {
		b = append([]byte("…"), b[len(b)-8<<10:]...)
	}
	return string(bytes.TrimSpace(b))
}

// Exited reports whether the daemon has ended.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Stop ends the feeders and the daemon by their process ids (SIGTERM,
// SIGKILL after 5 s) and waits for them. It reports a daemon that had to
// be killed or did not exit cleanly.
func (d *Daemon) Stop() error {
	for _, f := range d.feeds {
		stop(f)
	}
	d.feeds = nil
	defer d.log.Close()
	if !d.Exited() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
			return errors.New("daemon: slabcast did not stop within 5 s of SIGTERM")
		}
	}
	if d.err != nil {
		return fmt.Errorf("daemon: slabcast: %v: %s", d.err, d.Log())
	}
	return nil
}

// stop ends a child started with Start: SIGTERM, SIGKILL after 3 s.
func stop(c *exec.Cmd) {
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	c.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.Process.Kill()
		<-done
	}
}

var client = &http.Client{Timeout: 15 * time.Second}

// Get fetches path from the daemon and returns the body of a 200 answer.
func (d *Daemon) Get(ctx context.Context, path string) ([]byte, error) {
	return GetURL(ctx, d.Base()+path)
}

// GetURL fetches url and returns the body of a 200 answer.
func GetURL(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("daemon: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("daemon: GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// SegmentURIs returns the media URIs a playlist lists, in order.
func SegmentURIs(playlist []byte) []string {
	var uris []string
	for line := range strings.Lines(string(playlist)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
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
			return nil, fmt.Errorf("daemon: slabcast exited: %v: %s", d.err, d.Log())
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
	return nil, fmt.Errorf("daemon: /%s/index.m3u8 listed %d segments after %v, want %d: %s",
		name, len(SegmentURIs(last)), limit, n, d.Log())
}

// Metrics scrapes /metrics.
func (d *Daemon) Metrics(ctx context.Context) (Metrics, error) {
	body, err := d.Get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseMetrics(body)
}

// Metrics is a Prometheus text scrape: series ("name{labels}" exactly as
// exposed, or "name") to value.
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(text []byte) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("daemon: metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("daemon: metrics line %q: %w", line, err)
		}
		m[strings.TrimSpace(line[:i])] = v
	}
	return m, sc.Err()
}

// Sum adds every series of metric name, whatever its labels.
func (m Metrics) Sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// Stream returns metric name for one stream, with extra labels (`k="v"`)
// if any.
func (m Metrics) Stream(name, stream, extra string) float64 {
	k := name + `{stream="` + stream + `"`
	if extra != "" {
		k += "," + extra
	}
	return m[k+"}"]
}

// Streams returns the streams that have a series of metric name.
func (m Metrics) Streams(name string) []string {
	var out []string
	for k := range m {
		if rest, ok := strings.CutPrefix(k, name+`{stream="`); ok {
			if s, _, ok := strings.Cut(rest, `"`); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// ChannelName is the name Channels gives the stream of group i.
func ChannelName(i int) string { return "ch" + strconv.Itoa(i) }

// Channels is one stream per multicast group, named ch0, ch1, …
func Channels(groups []netip.AddrPort) []Stream {
	out := make([]Stream, len(groups))
	for i, g := range groups {
		out[i] = Stream{Name: ChannelName(i), Input: "udp://" + g.String()}
	}
	return out
}

// Binary returns bin, or, when bin is "", slabcast built from the module
// at root into dir.
func Binary(ctx context.Context, bin, root, dir string, logf func(string, ...any)) (string, error) {
	if bin != "" {
		return bin, nil
	}
	logf("building slabcast")
	return Build(ctx, root, dir)
}

// ErrMissingTool is returned (wrapped) by Tools; tests skip on it.
var ErrMissingTool = errors.New("missing tool")

// Tools returns an error wrapping ErrMissingTool naming the first of tools
// not installed; taskset and go join them when pinned and build say they
// are needed too.
func Tools(pinned, build bool, tools ...string) error {
	if pinned {
		tools = append(tools, "taskset")
	}
	if build {
		tools = append(tools, "go")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%w: %s (make deps installs ffmpeg, make bench-deps nginx and wrk)", ErrMissingTool, t)
		}
	}
	return nil
}
