package channels

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
	"sync"
	"syscall"
	"time"
)

// BuildDaemon builds slabcast from the module at root into dir and returns
// the binary's path.
func BuildDaemon(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "slabcast")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/slabcast")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("channels: go build ./cmd/slabcast: %w: %s", err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// DaemonConfig is one run of the slabcast daemon under test.
type DaemonConfig struct {
	Binary string           // the slabcast binary
	Dir    string           // scratch directory for the config, socket and log
	CPU    int              // the core for the receive workers (`cpus`) and, with taskset, the whole process
	Memory int64            // the slab pool, bytes (`memory`)
	Groups []netip.AddrPort // one stream per group, named ch0, ch1, …
	// SegmentDuration and SegmentCount set every stream's window; zero
	// leaves slabcast's defaults (2 s, 6).
	SegmentDuration time.Duration
	SegmentCount    int
}

// Daemon is a running slabcast process.
type Daemon struct {
	cmd  *exec.Cmd
	url  string // http://127.0.0.1:PORT
	log  *lockedBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// StreamName is the name of the stream fed by group i.
func StreamName(i int) string { return "ch" + strconv.Itoa(i) }

// Config returns the slabcast config file for c, listening on httpAddr.
func (c DaemonConfig) Config(httpAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "http %s;\nctl %s;\ncpus %d;\nmemory %dM;\n\n", httpAddr, filepath.Join(c.Dir, "ctl.sock"), c.CPU, c.Memory>>20)
	for i, g := range c.Groups {
		fmt.Fprintf(&b, "stream %s {\n  input udp://%s;\n", StreamName(i), g)
		if c.SegmentDuration > 0 {
			fmt.Fprintf(&b, "  segment_duration %s;\n", strconv.FormatFloat(c.SegmentDuration.Seconds(), 'f', -1, 64))
		}
		if c.SegmentCount > 0 {
			fmt.Fprintf(&b, "  segment_count %d;\n", c.SegmentCount)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// StartDaemon writes the config and starts slabcast under `taskset -c CPU`,
// so every thread of it (receive workers, HTTP, the Go runtime) runs on
// that one core, and waits until /metrics answers with every stream.
func StartDaemon(ctx context.Context, c DaemonConfig) (*Daemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	path := filepath.Join(c.Dir, "slabcast.conf")
	if err := os.WriteFile(path, []byte(c.Config(addr)), 0o644); err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	d := &Daemon{url: "http://" + addr, log: &lockedBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command("taskset", "-c", strconv.Itoa(c.CPU), c.Binary, "run", "-c", path)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("channels: starting slabcast: %w", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, err := d.Metrics()
		if err == nil && len(m.Streams("slabcast_stream_running")) == len(c.Groups) {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("channels: slabcast exited at start: %v: %s", d.err, d.Log())
		case <-ctx.Done():
			d.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("channels: slabcast did not serve /metrics with %d streams within 15 s (%v): %s", len(c.Groups), err, d.Log())
		}
	}
}

// PID is the daemon's process id (taskset execs it, so it is slabcast's).
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Log returns what the daemon wrote to stdout and stderr so far, cut to
// its last 4 KiB.
func (d *Daemon) Log() string {
	s := d.log.String()
	if len(s) > 4096 {
		s = "…" + s[len(s)-4096:]
	}
	return strings.TrimSpace(s)
}

// Metrics scrapes /metrics.
func (d *Daemon) Metrics() (Metrics, error) {
	cl := http.Client{Timeout: 15 * time.Second}
	resp, err := cl.Get(d.url + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("channels: scraping slabcast: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("channels: scraping slabcast: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("channels: /metrics answered %s", resp.Status)
	}
	return ParseMetrics(body)
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

// Stop ends the daemon with SIGTERM (SIGKILL after 5 s) and waits for it.
func (d *Daemon) Stop() error {
	if d.Exited() {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		return errors.New("channels: slabcast did not stop on SIGTERM within 5 s")
	}
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
			return nil, fmt.Errorf("channels: metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("channels: metrics line %q: %w", line, err)
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("channels: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a child's output, bounded to its last 64 KiB.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > 64<<10 {
		l.b = append(l.b[:0], l.b[len(l.b)-32<<10:]...)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
