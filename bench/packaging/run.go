package packaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/delivery"
	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/nic"
)

// shmDir is where nginx's copies live: tmpfs on Debian.
const shmDir = "/dev/shm"

// stream is part 1's stream.
const stream = "pk"

// Tools returns an error wrapping ErrMissingTool naming the first of the
// tools a Run needs that is not installed.
func Tools(cfg Config) error {
	return daemon.Tools(cfg.ServerCPUs != "" || cfg.LoadCPUs != "", cfg.Bin == "", "nginx", "wrk", "ffmpeg")
}

// Run measures cfg's cases (part 1), then packaging CPU and memory (parts 2
// and 3). It must run in a private network namespace (see the package
// doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Duration <= 0 || cfg.Pairs <= 0 || cfg.Connections <= 0 || cfg.Threads <= 0 || cfg.SegmentDuration <= 0 ||
		cfg.SegmentCount <= 0 || (cfg.Channels > 0 && (cfg.Window <= 0 || cfg.WindowPairs <= 0 || cfg.ChannelSegmentCount <= 0)) {
		return nil, errors.New("packaging: config needs Duration, Pairs, Connections, Threads, SegmentDuration, SegmentCount, and with Channels, Window, WindowPairs and ChannelSegmentCount")
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
	rep := &Report{Run: report.Begin(), Config: cfg, GoProcs: cores, Workers: cfg.Workers, Absent: map[string]string{}}
	if rep.Workers <= 0 {
		rep.Workers = cores
	}
	rep.Nginx = delivery.NginxVersion()
	rep.Wrk = firstLine(exec.Command("wrk", "-v").CombinedOutput())
	rep.Build = "the binary " + cfg.Bin
	if cfg.Bin == "" {
		rep.Build = daemon.DescribeTree(cfg.Root)
	}
	work, err := os.MkdirTemp("", "slabbench-packaging-")
	if err != nil {
		return nil, fmt.Errorf("packaging: %w", err)
	}
	defer os.RemoveAll(work)
	bin, err := daemon.Binary(ctx, cfg.Bin, cfg.Root, work, logf)
	if err != nil {
		return nil, err
	}
	logf("encoding a %.1f Mbit/s clip with ffmpeg", cfg.Bitrate/1e6)
	feed, err := clip.Feed(ctx, work, cfg.Bitrate)
	if err != nil {
		return nil, err
	}
	if len(cfg.Cases) > 0 {
		if err := runDelivery(ctx, cfg, rep, bin, feed, work, logf); err != nil {
			return nil, err
		}
	}
	if cfg.Channels > 0 {
		if err := runPackaging(ctx, cfg, rep, bin, feed, work, logf); err != nil {
			return nil, err
		}
	}
	rep.End()
	return rep, nil
}

// probe fetches o's manifest of stream st: absent is the reason it is not
// served (404), "" when it is.
func probe(ctx context.Context, d *daemon.Daemon, o Output, st string) (body []byte, absent string, err error) {
	body, code, err := get(ctx, d.Base()+o.ManifestPath(st))
	switch {
	case err != nil:
		return nil, "", err
	case code == 404:
		return nil, fmt.Sprintf("GET %s answered 404: not served by this build", o.ManifestPath(st)), nil
	case code != 200:
		return nil, "", fmt.Errorf("packaging: GET %s: status %d: %s", o.ManifestPath(st), code, bytes.TrimSpace(body))
	}
	return body, "", nil
}

// tsMSNs returns the MSNs stream st's TS playlist lists.
func tsMSNs(ctx context.Context, d *daemon.Daemon, st string) ([]uint64, error) {
	p := OutTS.ManifestPath(st)
	pl, err := d.Get(ctx, p)
	if err != nil {
		return nil, err
	}
	l, err := listHLS(p, pl, nil)
	if err != nil {
		return nil, err
	}
	return l.MSNs(), nil
}

func runDelivery(ctx context.Context, cfg Config, rep *Report, bin, feed, work string, logf func(string, ...any)) error {
	var st unix.Statfs_t
	if err := unix.Statfs(shmDir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("packaging: %s is not a tmpfs (%v)", shmDir, err)
	}
	shm, err := os.MkdirTemp(shmDir, "slabbench-packaging-")
	if err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	defer os.RemoveAll(shm)
	// nginx's workers run as nobody: the tree must be world-readable.
	if err := os.Chmod(shm, 0o755); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	dir := filepath.Join(work, "delivery")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir,
		Streams:         []daemon.Stream{{Name: stream, Input: "udp://" + cfg.Group, Feed: feed}},
		SegmentDuration: time.Duration(cfg.SegmentDuration) * time.Second, SegmentCount: cfg.SegmentCount,
		CPUs: cfg.ServerCPUs, FeedCPUs: cfg.LoadCPUs})
	if err != nil {
		return err
	}
	defer d.Stop()
	logf("part 1: slabcast pid %d on %s; waiting for %d segments", d.PID(), d.Base(), cfg.SegmentCount)
	if _, err := d.WaitSegments(ctx, stream, cfg.SegmentCount, waitFor(cfg.SegmentCount, cfg.SegmentDuration)); err != nil {
		return err
	}
	if m, err := d.Metrics(ctx); err == nil {
		rep.Input = m.Stream("slabcast_input_bitrate", stream, "")
	}
	var ng *delivery.NginxServer
	defer func() {
		if ng != nil {
			ng.Stop()
		}
	}()
	for _, c := range cfg.Cases {
		res := Result{Case: c}
		if _, absent, err := probe(ctx, d, c.Output, stream); err != nil {
			return err
		} else if absent != "" {
			res.Absent = absent
			rep.Absent[c.Output.Name] = absent
			rep.Results = append(rep.Results, res)
			logf("%-16v absent: %s", c, absent)
			continue
		}
		snap, body, err := snapshot(ctx, d, c, shm)
		if err != nil {
			return err
		}
		if ng == nil {
			if ng, err = delivery.StartNginx(ctx, filepath.Join(work, "nginx"), shm, rep.Workers, cfg.ServerCPUs, snap[0]); err != nil {
				return err
			}
		}
		// Warm-up runs, not counted: connections, page cache, heaps.
		for _, base := range []string{d.Base(), ng.Base()} {
			if _, err := delivery.Wrk(ctx, work, base, snap, cfg.Connections, cfg.Threads, min(cfg.Duration, 2*time.Second), cfg.LoadCPUs); err != nil {
				return err
			}
		}
		for pair := range cfg.Pairs {
			if pair > 0 {
				if snap, body, err = snapshot(ctx, d, c, shm); err != nil {
					return err
				}
			}
			if !c.Manifest {
				if err := sameBytes(ctx, d.Base(), ng.Base(), snap); err != nil {
					return err
				}
			}
			order := []Server{Slabcast, Nginx}
			if pair%2 == 1 {
				order = []Server{Nginx, Slabcast}
			}
			for _, s := range order {
				base, cpu := d.Base(), func() (time.Duration, error) { return proc.ProcessCPU(d.PID()) }
				if s == Nginx {
					base, cpu = ng.Base(), ng.CPU
				}
				m, err := measure(ctx, cfg, work, base, snap, cpu)
				if err != nil {
					return err
				}
				m.Server, m.Pair, m.URLs, m.Body = s, pair, len(snap), body
				res.Measures = append(res.Measures, m)
				l := m.Load
				logf("%-16v %-8v pair %d: %8.0f req/s %6.2f Gbit/s p50 %v p99 %v CPU %.2f cores, errors %d",
					c, s, pair, l.RPS(), l.Gbps(), l.P50, l.P99, m.Cores(), l.Errors())
			}
		}
		rep.Results = append(rep.Results, res)
	}
	return nil
}

// waitFor bounds the wait for n segments of d seconds.
func waitFor(n, d int) time.Duration { return time.Duration(n*d*2)*time.Second + 15*time.Second }

// snapshot fetches case c's manifest from slabcast and, for a segments
// case, every media segment it lists, writes them under root with the
// same URL layout, and returns the paths wrk rotates over and their mean
// body size.
func snapshot(ctx context.Context, d *daemon.Daemon, c Case, root string) ([]string, float64, error) {
	msns, err := tsMSNs(ctx, d, stream)
	if err != nil {
		return nil, 0, err
	}
	mp := c.Output.ManifestPath(stream)
	man, err := d.Get(ctx, mp)
	if err != nil {
		return nil, 0, err
	}
	if err := writeFile(root, mp, man); err != nil {
		return nil, 0, err
	}
	if c.Manifest {
		return []string{mp}, float64(len(man)), nil
	}
	l, err := c.Output.List(mp, man, msns)
	if err != nil {
		return nil, 0, err
	}
	var paths []string
	var sum int
	for _, m := range l.Media {
		if m.Part {
			continue
		}
		body, err := d.Get(ctx, m.Path)
		if err != nil {
			return nil, 0, err
		}
		if err := writeFile(root, m.Path, body); err != nil {
			return nil, 0, err
		}
		sum += len(body)
		paths = append(paths, m.Path)
	}
	if len(paths) == 0 {
		return nil, 0, fmt.Errorf("packaging: %s lists no media segment", mp)
	}
	return paths, float64(sum) / float64(len(paths)), nil
}

// writeFile writes body at urlPath under root, through a temporary file
// renamed into place (nginx may hold the old one open).
func writeFile(root, urlPath string, body []byte) error {
	if i := strings.IndexByte(urlPath, '?'); i >= 0 {
		return fmt.Errorf("packaging: URL %q has a query: nginx cannot serve it from files", urlPath)
	}
	p := filepath.Join(root, filepath.FromSlash(urlPath))
	if !strings.HasPrefix(p, root+string(filepath.Separator)) {
		return fmt.Errorf("packaging: URL %q leaves the document root", urlPath)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	return nil
}

// sameBytes checks that nginx serves the bytes slabcast serves for paths.
func sameBytes(ctx context.Context, a, b string, paths []string) error {
	for _, p := range paths {
		x, err := daemon.GetURL(ctx, a+p)
		if err != nil {
			return err
		}
		y, err := daemon.GetURL(ctx, b+p)
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return fmt.Errorf("packaging: %s: slabcast and nginx serve different bytes (%d and %d)", p, len(x), len(y))
		}
	}
	return nil
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
	l, err := delivery.Wrk(ctx, dir, base, paths, cfg.Connections, cfg.Threads, cfg.Duration, cfg.LoadCPUs)
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

// poolFor sizes `memory` for n channels of bitrate over window: the window
// once and a half, plus 32 MiB, in whole MiB (as bench/memory).
func poolFor(n int, bitrate float64, window time.Duration) int64 {
	m := int64(float64(n)*bitrate/8*window.Seconds()*1.5) + 32<<20
	return (m + 1<<20 - 1) &^ (1<<20 - 1)
}

func runPackaging(ctx context.Context, cfg Config, rep *Report, bin, feed, work string, logf func(string, ...any)) error {
	segDur := time.Duration(cfg.SegmentDuration) * time.Second
	rep.Retention = segDur * time.Duration(Retained(cfg.ChannelSegmentCount))
	pool := poolFor(cfg.Channels, cfg.Bitrate, rep.Retention)

	// The daemon with no stream, the same pool.
	dir := filepath.Join(work, "base")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	base, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, CPUs: cfg.ServerCPUs, Memory: pool})
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	mb, err := memoryOf(ctx, base, MemNoStream, 0)
	base.Stop()
	if err != nil {
		return err
	}
	rep.Memory = append(rep.Memory, mb)

	grp, err := nic.ParseURL("udp://" + cfg.Group)
	if err != nil {
		return fmt.Errorf("packaging: group: %w", err)
	}
	var streams []daemon.Stream
	var names []string
	for i := range cfg.Channels {
		name := daemon.ChannelName(i)
		names = append(names, name)
		streams = append(streams, daemon.Stream{Name: name, Feed: feed,
			Input: fmt.Sprintf("udp://%v:%d", grp.Addr.Addr(), int(grp.Addr.Port())+1+i)})
	}
	dir = filepath.Join(work, "channels")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, Streams: streams, Memory: pool,
		SegmentDuration: segDur, SegmentCount: cfg.ChannelSegmentCount, CPUs: cfg.ServerCPUs, FeedCPUs: cfg.LoadCPUs})
	if err != nil {
		return err
	}
	defer d.Stop()
	logf("parts 2, 3: slabcast pid %d, %d channels; waiting for a segment in each playlist", d.PID(), cfg.Channels)
	for _, n := range names {
		if _, err := d.WaitSegments(ctx, n, 1, waitFor(cfg.ChannelSegmentCount, cfg.SegmentDuration)); err != nil {
			return err
		}
	}
	if m, err := d.Metrics(ctx); err == nil {
		rep.ChannelInput = m.Stream("slabcast_input_bitrate", names[0], "")
	}

	// The benchmark's own threads (the fetcher) go to the load cores.
	if cpus, err := nic.ParseCPUList(cfg.LoadCPUs); err == nil && cfg.LoadCPUs != "" {
		restore, err := proc.Confine(cpus...)
		if err != nil {
			return err
		}
		defer restore()
	}
	f := newFetcher(d.Base(), names, nil, segDur)
	fctx, stopFetch := context.WithCancel(ctx)
	fdone := make(chan struct{})
	go func() { f.run(fctx); close(fdone) }()
	defer func() { stopFetch(); <-fdone }()

	// Fill: TS only for a whole retention window and a segment, then
	// the TS-only memory; the receive worker is the thread with the most
	// CPU meanwhile.
	fill := cfg.fill()
	logf("TS only for %v (every channel's window full of segments fetched as TS only)", fill)
	t0, _ := taskCPU(d.PID())
	samples, err := sampleHeap(ctx, d, fill, segDur)
	if err != nil {
		return err
	}
	t1, _ := taskCPU(d.PID())
	worker, share := busiestTask(t0, t1)
	rep.WorkerShare = share
	mt, err := memoryOf(ctx, d, MemTS, 0)
	if err != nil {
		return err
	}
	mt.HeapSamples = samples
	rep.Memory = append(rep.Memory, mt)

	// Which packaged outputs this build serves: asked only now, since
	// asking may start work for the stream (LL-HLS's part maker).
	var outs []Output
	for _, o := range Outputs {
		if !o.Packaged {
			continue
		}
		_, absent, err := probe(ctx, d, o, names[0])
		if err != nil {
			return err
		}
		if absent != "" {
			rep.Absent[o.Name] = absent
			continue
		}
		outs = append(outs, o)
		rep.InUse = append(rep.InUse, o.Name)
		if o.Linger > 0 {
			rep.Settle = max(rep.Settle, o.Linger+segDur)
		}
	}
	switch {
	case cfg.Settle < 0:
		rep.Settle = 0
	case cfg.Settle > 0:
		rep.Settle = cfg.Settle
	}

	// One B window first, not counted: the heap grows to hold the packaged
	// forms (fresh pages, faulted in once) and the first MPD renderings.
	f.setMode(All, outs)
	logf("warm-up: every output in use for %v, not counted", cfg.Window)
	if err := sleep(ctx, cfg.Window); err != nil {
		return err
	}
	sets := [][]Output{outs}
	if cfg.PerOutput && len(outs) > 1 {
		sets = nil
		for _, o := range outs {
			sets = append(sets, []Output{o})
		}
		sets = append(sets, outs)
	}
	prev := outs
	start := time.Now()
	for range cfg.WindowPairs {
		for _, set := range sets {
			f.setMode(TSOnly, nil)
			if lingers(prev) && rep.Settle > 0 {
				logf("TS only for %v, not counted: the outputs' work after their last request ends", rep.Settle)
				if err := sleep(ctx, rep.Settle); err != nil {
					return err
				}
			}
			for _, k := range []Kind{TSOnly, All} {
				if k == All {
					f.setMode(All, set)
				}
				w, err := window(ctx, cfg, d, f, worker, k)
				if err != nil {
					return err
				}
				if k == All {
					w.Set = setName(set)
				}
				w.Start = time.Since(start) - w.Wall
				rep.Windows = append(rep.Windows, w)
				logf("window %d %v %s: daemon %.3f cores (worker %.3f), ingest %.3f Gbit/s, TS packaged %.3f Gbit/s, %d packaged requests, %d errors",
					len(rep.Windows), k, w.Set, w.Cores(), w.WorkerCores(), w.InputGbps(), w.PackagedGbps(), w.Fetched.PackRequests, w.Fetched.Errors)
			}
			prev = set
		}
	}

	// Every output in use for a whole retention window, then its memory.
	f.setMode(All, outs)
	logf("every output in use for %v", fill)
	if samples, err = sampleHeap(ctx, d, fill, segDur); err != nil {
		return err
	}
	ma, err := memoryOf(ctx, d, MemAll, f.held(rep.Retention))
	if err != nil {
		return err
	}
	ma.HeapSamples = samples
	rep.Memory = append(rep.Memory, ma)
	tot := f.total()
	rep.FetchErrors, rep.FirstFetchError = tot.Errors, tot.FirstError
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// lingers reports whether any of outs works on after its last request.
func lingers(outs []Output) bool {
	for _, o := range outs {
		if o.Linger > 0 {
			return true
		}
	}
	return false
}

// setName joins the outputs' names: a window's Set.
func setName(outs []Output) string {
	var n []string
	for _, o := range outs {
		n = append(n, o.Name)
	}
	return strings.Join(n, ",")
}

// sampleHeap waits d, reading the daemon's go_memstats_heap_alloc_bytes
// every step.
func sampleHeap(ctx context.Context, d *daemon.Daemon, total, step time.Duration) ([]float64, error) {
	var out []float64
	end := time.Now().Add(total)
	for {
		left := time.Until(end)
		if left <= 0 {
			return out, nil
		}
		if err := sleep(ctx, min(step, left)); err != nil {
			return nil, err
		}
		m, err := d.Metrics(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, m.Sum("go_memstats_heap_alloc_bytes"))
	}
}

// window measures one window of kind k.
func window(ctx context.Context, cfg Config, d *daemon.Daemon, f *fetcher, worker int, k Kind) (Window, error) {
	w := Window{Kind: k}
	m0, err := d.Metrics(ctx)
	if err != nil {
		return w, err
	}
	f0 := f.total()
	t0, c0 := taskCPU(d.PID())
	tk0, _ := proc.ProcessCPU(d.PID())
	s0, l0 := proc.ListBusy(cfg.ServerCPUs), proc.ListBusy(cfg.LoadCPUs)
	start := time.Now()
	if err := sleep(ctx, cfg.Window); err != nil {
		return w, err
	}
	t1, c1 := taskCPU(d.PID())
	tk1, _ := proc.ProcessCPU(d.PID())
	w.Wall = time.Since(start)
	w.Busy, w.LoadBusy = proc.ListBusy(cfg.ServerCPUs)-s0, proc.ListBusy(cfg.LoadCPUs)-l0
	f1 := f.total()
	m1, err := d.Metrics(ctx)
	if err != nil {
		return w, err
	}
	w.CPU, w.Ticks = c1-c0, tk1-tk0
	w.Worker = t1[worker] - t0[worker]
	w.InputBytes = m1.Sum("slabcast_input_bytes_total") - m0.Sum("slabcast_input_bytes_total")
	w.Segments = int(m1.Sum("slabcast_segments_total") - m0.Sum("slabcast_segments_total"))
	w.KernelDrops = m1.Sum("slabcast_input_kernel_drops_total") - m0.Sum("slabcast_input_kernel_drops_total")
	w.Fetched = f1.sub(f0)
	return w, nil
}

// memoryOf reads d's memory now.
func memoryOf(ctx context.Context, d *daemon.Daemon, what string, held int64) (Memory, error) {
	m := Memory{What: what, PackHeld: held}
	var err error
	if m.Mem, err = proc.ProcessMemory(d.PID()); err != nil {
		return m, err
	}
	x, err := d.Metrics(ctx)
	if err != nil {
		return m, err
	}
	m.Pool, m.PoolFree = int64(x.Sum("slabcast_pool_bytes")), int64(x.Sum("slabcast_pool_free_bytes"))
	m.HeapInuse, m.HeapAlloc = x.Sum("go_memstats_heap_inuse_bytes"), x.Sum("go_memstats_heap_alloc_bytes")
	m.NextGC = x.Sum("go_memstats_next_gc_bytes")
	return m, nil
}

// taskCPU returns the CPU time of each thread of pid and their sum, from
// /proc/PID/task/*/schedstat (the scheduler's nanoseconds).
func taskCPU(pid int) (map[int]time.Duration, time.Duration) {
	dirs, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	out := map[int]time.Duration{}
	var sum time.Duration
	for _, dir := range dirs {
		tid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		out[tid] = time.Duration(ns)
		sum += time.Duration(ns)
	}
	return out, sum
}

// busiestTask returns the thread with the most CPU time between a and b,
// and its share of the process's.
func busiestTask(a, b map[int]time.Duration) (int, float64) {
	best, bestD := 0, time.Duration(0)
	var sum time.Duration
	for tid, t := range b {
		d := t - a[tid]
		sum += d
		if d > bestD {
			best, bestD = tid, d
		}
	}
	if sum <= 0 {
		return best, 0
	}
	return best, bestD.Seconds() / sum.Seconds()
}

func firstLine(b []byte, _ error) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if i := strings.Index(s, " Copyright"); i > 0 {
		s = s[:i]
	}
	return s
}
