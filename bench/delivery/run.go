package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/nic"
)

// shmDir is where the baseline's files live: tmpfs on Debian.
const shmDir = "/dev/shm"

// Tools returns an error wrapping ErrMissingTool naming the first of the
// tools a Run needs that is not installed.
func Tools(cfg Config) error {
	return daemon.Tools(cfg.ServerCPUs != "" || cfg.LoadCPUs != "", cfg.Bin == "", "nginx", "wrk", "ffmpeg")
}

// Run measures every case of cfg against slabcast and nginx. It must run
// in a private network namespace (see the package doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Duration <= 0 || cfg.Streams <= 0 || len(cfg.Cases) == 0 || cfg.Connections <= 0 || cfg.Threads <= 0 {
		return nil, errors.New("delivery: config needs Duration, Streams, Cases, Connections and Threads")
	}
	if cfg.Mix <= 0 {
		cfg.Mix = 1
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
	rep := &Report{Run: report.Begin(), Config: cfg,
		Workers: cfg.Workers, GoProcs: cores}
	if rep.Workers <= 0 {
		rep.Workers = cores
	}
	rep.Nginx = firstLine(exec.Command("nginx", "-v").CombinedOutput())
	rep.Wrk = firstLine(exec.Command("wrk", "-v").CombinedOutput())

	work, err := os.MkdirTemp("", "slabbench-delivery-")
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	defer os.RemoveAll(work)
	var st unix.Statfs_t
	if err := unix.Statfs(shmDir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return nil, fmt.Errorf("delivery: %s is not a tmpfs (%v)", shmDir, err)
	}
	shm, err := os.MkdirTemp(shmDir, "slabbench-delivery-")
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	defer os.RemoveAll(shm)
	// nginx's workers run as nobody: the tree must be world-readable.
	if err := os.Chmod(shm, 0o755); err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}

	bin, err := daemon.Binary(ctx, cfg.Bin, cfg.Root, work, logf)
	if err != nil {
		return nil, err
	}
	logf("encoding a %.1f Mbit/s clip with ffmpeg", cfg.Bitrate/1e6)
	feedClip, err := clip.Feed(ctx, work, cfg.Bitrate)
	if err != nil {
		return nil, err
	}
	group, err := nic.ParseURL("udp://" + cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("delivery: group: %w", err)
	}
	var streams []daemon.Stream
	for i := range cfg.Streams {
		streams = append(streams, daemon.Stream{
			Name:  fmt.Sprintf("ch%d", i+1),
			Input: fmt.Sprintf("udp://%v:%d", group.Addr.Addr(), int(group.Addr.Port())+i),
			Feed:  feedClip,
		})
	}
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: work, Streams: streams,
		SegmentDuration: time.Duration(cfg.SegmentDuration) * time.Second, SegmentCount: cfg.SegmentCount,
		CPUs: cfg.ServerCPUs, FeedCPUs: cfg.LoadCPUs, Env: cfg.Env})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	logf("slabcast pid %d on %s; waiting for %d segments in each playlist", d.PID(), d.Base(), cfg.SegmentCount)
	wait := time.Duration(cfg.SegmentCount*cfg.SegmentDuration*2)*time.Second + 15*time.Second
	for _, s := range streams {
		if _, err := d.WaitSegments(ctx, s.Name, cfg.SegmentCount, wait); err != nil {
			return nil, err
		}
	}
	if m, err := d.Metrics(ctx); err == nil {
		rep.Input = m[`slabcast_input_bitrate{stream="`+streams[0].Name+`"}`]
	}

	for i, c := range cfg.Cases {
		root := filepath.Join(shm, fmt.Sprintf("case%d", i))
		res, err := snapshot(ctx, d, streams, root, c, cfg.Mix)
		if err != nil {
			return nil, err
		}
		// slabcast first, while the snapshot's segments are freshest.
		m, err := measure(ctx, cfg, work, d.Base(), res.Paths, func() (time.Duration, error) { return proc.ProcessCPU(d.PID()) })
		if err != nil {
			return nil, err
		}
		m.Server = Slabcast
		res.Measures = append(res.Measures, m)
		logLoad(logf, c, m)

		ng, err := startNginx(ctx, filepath.Join(work, fmt.Sprintf("nginx%d", i)), root, rep.Workers, cfg.ServerCPUs, res.Paths[0])
		if err != nil {
			return nil, err
		}
		if err := sameBytes(ctx, d.Base(), ng.base, res.Paths); err != nil {
			ng.stop()
			return nil, err
		}
		m, err = measure(ctx, cfg, work, ng.base, res.Paths, ng.cpu)
		ng.stop()
		if err != nil {
			return nil, err
		}
		m.Server = Nginx
		res.Measures = append(res.Measures, m)
		logLoad(logf, c, m)
		os.RemoveAll(root)
		rep.Results = append(rep.Results, res)
	}
	rep.End()
	return rep, nil
}

func logLoad(logf func(string, ...any), c Case, m Measure) {
	l := m.Load
	logf("%-20v %-8v %8.0f req/s %6.2f Gbit/s p50 %v p99 %v CPU %.2f cores, errors %d",
		c, m.Server, l.RPS(), l.Gbps(), l.P50, l.P99, m.Cores(), l.Errors())
}

// measure runs wrk against base and reads the server's CPU time around it.
func measure(ctx context.Context, cfg Config, dir, base string, paths []string, cpu func() (time.Duration, error)) (Measure, error) {
	var m Measure
	c0, err := cpu()
	if err != nil {
		return m, err
	}
	s0, l0 := proc.ListBusy(cfg.ServerCPUs), proc.ListBusy(cfg.LoadCPUs)
	t0 := time.Now()
	l, err := runWrk(ctx, dir, base, paths, cfg.Connections, cfg.Threads, cfg.Duration, cfg.LoadCPUs)
	if err != nil {
		return m, err
	}
	m.Wall = time.Since(t0)
	c1, err := cpu()
	if err != nil {
		return m, err
	}
	m.Load, m.CPU = l, c1-c0
	m.ServerBusy, m.LoadBusy = proc.ListBusy(cfg.ServerCPUs)-s0, proc.ListBusy(cfg.LoadCPUs)-l0
	return m, nil
}

// snapshot downloads every stream's playlist and segments from slabcast
// into root with the same URL layout and returns the case's paths.
func snapshot(ctx context.Context, d *daemon.Daemon, streams []daemon.Stream, root string, c Case, mix int) (Result, error) {
	res := Result{Case: c}
	var segs [][]string // per stream
	var pls []string
	size := map[string]int{}
	for _, s := range streams {
		plPath := "/" + s.Name + "/index.m3u8"
		pl, err := d.Get(ctx, plPath)
		if err != nil {
			return res, err
		}
		if err := writeFile(root, plPath, pl); err != nil {
			return res, err
		}
		res.PlBytes += int64(len(pl))
		size[plPath] = len(pl)
		pls = append(pls, plPath)
		var list []string
		for _, u := range daemon.SegmentURIs(pl) {
			p := u
			if !strings.HasPrefix(u, "/") {
				p = "/" + s.Name + "/" + u
			}
			body, err := d.Get(ctx, p)
			if err != nil {
				return res, err
			}
			if err := writeFile(root, p, body); err != nil {
				return res, err
			}
			res.SegBytes += int64(len(body))
			size[p] = len(body)
			res.Segs++
			list = append(list, p)
		}
		if len(list) == 0 {
			return res, fmt.Errorf("delivery: /%s/index.m3u8 lists no segment", s.Name)
		}
		segs = append(segs, list)
	}
	// Interleave the streams' segments.
	var all []string
	for i := 0; ; i++ {
		n := 0
		for _, l := range segs {
			if i < len(l) {
				all = append(all, l[i])
				n++
			}
		}
		if n == 0 {
			break
		}
	}
	switch c {
	case Segments:
		res.Paths = all
	case Playlist:
		res.Paths = pls
	case Mixed:
		for i, p := range all {
			if i%mix == 0 {
				res.Paths = append(res.Paths, pls[(i/mix)%len(pls)])
			}
			res.Paths = append(res.Paths, p)
		}
	default:
		return res, fmt.Errorf("delivery: unknown case %d", c)
	}
	var sum int
	for _, p := range res.Paths {
		sum += size[p]
	}
	res.Body = float64(sum) / float64(len(res.Paths))
	return res, nil
}

func writeFile(root, urlPath string, body []byte) error {
	p := filepath.Join(root, filepath.FromSlash(urlPath))
	if !strings.HasPrefix(p, root+string(filepath.Separator)) {
		return fmt.Errorf("delivery: URL %q leaves the document root", urlPath)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	return nil
}

// sameBytes checks that nginx serves the bytes slabcast serves for the
// case's segments (playlists move on in slabcast, so they are not compared).
func sameBytes(ctx context.Context, a, b string, paths []string) error {
	for _, p := range paths {
		if !strings.HasSuffix(p, ".ts") {
			continue
		}
		x, err := daemon.GetURL(ctx, a+p)
		if err != nil {
			return err
		}
		y, err := daemon.GetURL(ctx, b+p)
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return fmt.Errorf("delivery: %s: slabcast and nginx serve different bytes (%d and %d)", p, len(x), len(y))
		}
	}
	return nil
}

func firstLine(b []byte, _ error) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s = strings.TrimPrefix(s, "nginx version: ")
	if i := strings.Index(s, " Copyright"); i > 0 {
		s = s[:i]
	}
	return s
}
