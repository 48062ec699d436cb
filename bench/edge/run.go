package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/nginxedge"
	"github.com/slabcast/slabcast/nic"
)

// stream is the channel's name.
const stream = "tv"

// Tools returns an error wrapping ErrMissingTool naming the first of the
// tools a Run needs that is not installed.
func Tools(cfg Config) error {
	return daemon.Tools(cfg.ServerCPUs != "" || cfg.LoadCPUs != "", cfg.Bin == "", "nginx", "ffmpeg")
}

// Run measures every viewer count of cfg direct and through the edge. It
// must run in a private network namespace (see the package doc). ctx
// bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.SegmentDuration <= 0 || cfg.SegmentCount <= 0 || cfg.Window <= 0 || len(cfg.Viewers) == 0 || cfg.Bitrate <= 0 {
		return nil, errors.New("edge: config needs SegmentDuration, SegmentCount, Window, Viewers and Bitrate")
	}
	for _, n := range cfg.Viewers {
		if n <= 0 {
			return nil, fmt.Errorf("edge: viewer count %d", n)
		}
	}
	if err := Tools(cfg); err != nil {
		return nil, err
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cores, err := proc.CountCPUs(cfg.ServerCPUs)
	if err != nil {
		return nil, err
	}
	if _, err := proc.CountCPUs(cfg.LoadCPUs); err != nil {
		return nil, err
	}
	if cfg.EdgeConf == "" {
		cfg.EdgeConf = filepath.Join(cfg.Root, nginxedge.Path)
	}
	rep := &Report{Run: report.Begin(), Config: cfg, Workers: cfg.Workers}
	if rep.Workers <= 0 {
		rep.Workers = cores
	}
	rep.Nginx = firstLine(exec.Command("nginx", "-v").CombinedOutput())
	rep.Build = "the binary " + cfg.Bin
	if cfg.Bin == "" {
		rep.Build = daemon.DescribeTree(cfg.Root)
	}
	work, err := os.MkdirTemp("", "slabbench-edge-")
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	defer os.RemoveAll(work)
	// nginx's workers (nobody, under root) keep their cache in it.
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	bin, err := daemon.Binary(ctx, cfg.Bin, cfg.Root, work, logf)
	if err != nil {
		return nil, err
	}
	logf("encoding a %.1f Mbit/s clip with ffmpeg", cfg.Bitrate/1e6)
	feed, err := clip.Feed(ctx, work, cfg.Bitrate)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "origin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	segDur := time.Duration(cfg.SegmentDuration) * time.Second
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir,
		Streams:         []daemon.Stream{{Name: stream, Input: "udp://" + cfg.Group, Feed: feed}},
		SegmentDuration: segDur, SegmentCount: cfg.SegmentCount, CPUs: cfg.ServerCPUs, FeedCPUs: cfg.LoadCPUs})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	logf("slabcast pid %d on %s; waiting for 3 segments", d.PID(), d.Base())
	if _, err := d.WaitSegments(ctx, stream, 3, 6*segDur+15*time.Second); err != nil {
		return nil, err
	}
	if m, err := d.Metrics(ctx); err == nil {
		rep.Input = m.Stream("slabcast_input_bitrate", stream, "")
	}
	e, err := startEdge(ctx, filepath.Join(work, "nginx"), cfg.EdgeConf, d.Addr(), rep.Workers, cfg.ServerCPUs)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	rep.Cache = "the benchmark's temporary directory (" + fsType(work) + ")"
	logf("nginx pid %d on %s, in front of it", e.cmd.Process.Pid, e.base)

	// The viewers (the benchmark's own threads) go to the load cores.
	if cpus, err := nic.ParseCPUList(cfg.LoadCPUs); err == nil && cfg.LoadCPUs != "" {
		restore, err := proc.Confine(cpus...)
		if err != nil {
			return nil, err
		}
		defer restore()
	}
	for i, n := range cfg.Viewers {
		order := []Path{Direct, Edge}
		if i%2 == 1 {
			order = []Path{Edge, Direct}
		}
		for _, p := range order {
			m, err := measure(ctx, cfg, d, e, p, n)
			if err != nil {
				return nil, err
			}
			rep.Measures = append(rep.Measures, m)
			sc, nc := m.Cores()
			_, lb := m.Busy(cores, 1)
			logf("%-6v %4d viewers: %7.0f req/s of %6.0f offered, %5.2f Gbit/s, p99 %v, %d late, %d errors; slabcast %.2f cores, nginx %.2f; load core %.2f; origin: %d requests, %d segments cut",
				p, n, m.RPS(), Offered(n, cfg.SegmentDuration), m.Gbps(), quantile(m.Viewed.Latency, 0.99).Round(100*time.Microsecond),
				m.Viewed.Late, m.Viewed.Errors, sc, nc, lb, m.Origin.Requests, m.Origin.NewSegments)
			if m.Viewed.FirstError != "" {
				logf("first error: %s", m.Viewed.FirstError)
			}
		}
	}
	rep.End()
	return rep, nil
}

// measure runs n viewers on path p: a warm-up, then a measured window.
func measure(ctx context.Context, cfg Config, d *daemon.Daemon, e *edgeServer, p Path, n int) (Measure, error) {
	m := Measure{Path: p, Viewers: n}
	base := d.Base()
	if p == Edge {
		base = e.base
	}
	segDur := time.Duration(cfg.SegmentDuration) * time.Second
	v := newViewers(base+"/"+stream+"/index.m3u8", n, segDur)
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { v.run(vctx, n); close(done) }()
	defer func() { cancel(); <-done }()
	if err := sleep(ctx, cfg.warmup()); err != nil {
		return m, err
	}
	type snap struct {
		at           time.Time
		v            Viewed
		segs, reqs   float64
		scpu, ncpu   time.Duration
		sbusy, lbusy time.Duration
	}
	take := func() (s snap, err error) {
		met, err := d.Metrics(ctx)
		if err != nil {
			return s, err
		}
		s.segs = met.Stream("slabcast_segments_total", stream, "")
		s.reqs = met.Sum("slabcast_http_requests_total")
		if s.scpu, err = proc.ProcessCPU(d.PID()); err != nil {
			return s, err
		}
		if s.ncpu, err = e.cpu(); err != nil {
			return s, err
		}
		s.sbusy, s.lbusy = proc.ListBusy(cfg.ServerCPUs), proc.ListBusy(cfg.LoadCPUs)
		s.v = v.total()
		s.at = time.Now()
		return s, nil
	}
	s0, err := take()
	if err != nil {
		return m, err
	}
	if err := sleep(ctx, cfg.Window); err != nil {
		return m, err
	}
	s1, err := take()
	if err != nil {
		return m, err
	}
	m.Wall = s1.at.Sub(s0.at)
	m.Viewed = s1.v.sub(s0.v)
	m.SlabcastCPU, m.NginxCPU = s1.scpu-s0.scpu, s1.ncpu-s0.ncpu
	m.ServerBusy, m.LoadBusy = s1.sbusy-s0.sbusy, s1.lbusy-s0.lbusy
	// The second scrape counts the first (answered before it was counted).
	m.Origin.NewSegments = int(s1.segs - s0.segs)
	m.Origin.Requests = int(s1.reqs-s0.reqs) - 1
	if p == Edge {
		// nginx writes a line when a request ends: a little after the
		// window, so the last ones are in.
		time.Sleep(100 * time.Millisecond)
		text, err := os.ReadFile(e.accessLog)
		if err != nil {
			return m, fmt.Errorf("edge: %w", err)
		}
		lines, _ := ParseLog(string(text))
		o := Tally(lines, s0.at, s1.at)
		o.NewSegments, o.Requests = m.Origin.NewSegments, m.Origin.Requests
		m.Origin = o
	}
	return m, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func firstLine(b []byte, err error) string {
	if err != nil {
		return ""
	}
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return string(line)
}

// fsType names the file system at path as /proc/mounts has it ("tmpfs",
// "ext4"), the longest mount point that holds it.
func fsType(path string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown file system"
	}
	best, typ := "", "unknown file system"
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := string(f[1])
		if (path == mp || len(path) > len(mp) && path[:len(mp)] == mp && (mp == "/" || path[len(mp)] == '/')) && len(mp) >= len(best) {
			best, typ = mp, string(f[2])
		}
	}
	return typ
}
