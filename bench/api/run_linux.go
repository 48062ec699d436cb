package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/feed"
)

const (
	minGoProcs = 4                      // the pinned sender thread never waits for a P
	findFor    = 2 * time.Second        // ingest alone, to find the receive worker
	steady     = time.Second            // HLS load and sending before the first window
	catchUp    = 2 * time.Second        // bound on the wait for a window's last datagrams
	drainQuiet = 150 * time.Millisecond // final drain: the count unchanged this long
	drainMax   = 3 * time.Second
)

// Run measures cfg's windows. It must run in a private network namespace
// (see the package doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Channels <= 0 || cfg.Pairs <= 0 || cfg.Window <= 0 || cfg.SegmentDuration <= 0 || cfg.SegmentCount <= 0 ||
		cfg.Pollers <= 0 || cfg.PollEvery <= 0 || cfg.Viewers <= 0 || cfg.Fetchers <= 0 || cfg.PollPath == "" {
		return nil, errors.New("api: config needs Channels, Pairs, Window, SegmentDuration, SegmentCount, Pollers, PollEvery, PollPath, Viewers and Fetchers")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := sender.Check(cfg.SenderCPU, cfg.DaemonCPU); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	defer proc.AtLeastGoProcs(minGoProcs)()
	rep := &Report{Run: report.Begin(), Config: cfg}

	scratch, err := os.MkdirTemp("", "slabcast-api-")
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	defer os.RemoveAll(scratch)
	rep.Build = "the binary " + cfg.Binary
	if cfg.Binary == "" {
		rep.Build = daemon.DescribeTree(cfg.Root)
	}
	bin, err := daemon.Binary(ctx, cfg.Binary, cfg.Root, scratch, logf)
	if err != nil {
		return nil, err
	}
	path := cfg.Clip
	if path == "" {
		if path, err = clip.ChannelOr(ctx, cfg.ClipDir, cfg.Mbps, cfg.FallbackClip, logf); err != nil {
			return nil, err
		}
		rep.Config.Clip = path
	}
	fc, err := feed.LoadClip(path)
	if err != nil {
		return nil, fmt.Errorf("api: clip %s: %w", path, err)
	}
	buf := feed.NewBuffer(fc)
	rep.Bitrate = fc.Bitrate()
	perGroup := fc.Bitrate() / (feed.DatagramSize * 8)

	groups := sender.GroupsOnPort(cfg.Channels, cfg.Port)
	streams := daemon.Channels(groups)
	names := make([]string, len(streams))
	for i, s := range streams {
		names[i] = s.Name
	}
	snd, err := sender.New(groups, cfg.SenderCPU, buf)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	defer snd.Close()
	snd.Gentle = true // the HLS clients and the pollers share its core

	if cfg.Steer {
		if err := proc.SteerTo(cfg.DaemonCPU); err != nil {
			logf("%v; the kernel's receive half stays on the sender's core", err)
		} else {
			rep.Steered = true
			defer proc.SteerTo(-1)
		}
	}

	// Each stream keeps 2 × segment_count + 1 segments: 1.5 × that much
	// media of every channel, plus 32 MiB (bench/results/memory.md).
	window := float64(2*cfg.SegmentCount+1) * cfg.SegmentDuration.Seconds()
	rep.Memory = (int64(1.5*float64(cfg.Channels)*rep.Bitrate/8*window) + 32<<20 + 1<<20 - 1) &^ (1<<20 - 1)
	extra := fmt.Sprintf("edit_auth %s %s;\n", cfg.User, cfg.Password)
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: scratch, CPUs: strconv.Itoa(cfg.DaemonCPU), Streams: streams,
		Memory: rep.Memory, SegmentDuration: cfg.SegmentDuration, SegmentCount: cfg.SegmentCount, Env: cfg.DaemonEnv, Extra: extra})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Stop()
		}
	}()
	// Threads this process does not pin (the clients, the pollers, the Go
	// runtime's) keep off the daemon's core; the sender pins its own.
	restore, err := proc.Confine(cfg.SenderCPU)
	if err != nil {
		return nil, err
	}
	defer restore()

	m := &meter{ctx: ctx, d: d, cpu: cfg.DaemonCPU}
	if err := warmUp(ctx, cfg, rep, d, m, snd, perGroup, names, logf); err != nil {
		return nil, fmt.Errorf("%w (slabcast log: %s)", err, d.Log())
	}

	clk := clock{epoch: time.Now()}
	pol := newPollers(clk, d.Base()+cfg.PollPath, cfg.User, cfg.Password, cfg.Pollers, cfg.Channels, cfg.PollEvery)
	defer pol.close()
	if err := pol.open(); err != nil {
		return nil, fmt.Errorf("%w (slabcast log: %s)", err, d.Log())
	}
	rep.ExampleStreams = pol.exampleStream
	logf("%d pollers connected; an answer is %d bytes, %d streams", cfg.Pollers, pol.exampleSize, pol.exampleStream)
	hls := startHLS(clk, d.Base(), names, cfg.FetchRate(), cfg.Fetchers)
	hlsRunning := true
	defer func() {
		if hlsRunning {
			hls.end()
		}
	}()
	logf("HLS load: %d viewers a channel, %.1f segment fetches a second from %d clients", cfg.Viewers, cfg.FetchRate(), cfg.Fetchers)
	// Steady state before the first window: the clients' connections made,
	// then a clean start of the count.
	if _, err := snd.Run(ctx, perGroup, steady); err != nil {
		return nil, err
	}
	base, err := m.drain()
	if err != nil {
		return nil, err
	}
	before, err := m.snap()
	if err != nil {
		return nil, err
	}
	expect := base // datagrams the daemon should have counted
	type span struct{ from, to int64 }
	var spans []span
	clean := func(k Kind) int {
		n := 0
		for _, w := range rep.Windows {
			if w.Kind == k && w.Disturbed(cfg) == "" {
				n++
			}
		}
		return n
	}
	for i := 0; ; i++ {
		// After the planned pairs, more pairs while either case lacks
		// clean windows, up to ExtraPairs.
		if i >= 2*cfg.Pairs && i%2 == 0 &&
			(clean(Without) >= cfg.Pairs && clean(With) >= cfg.Pairs || i >= 2*(cfg.Pairs+max(0, cfg.ExtraPairs))) {
			break
		}
		if i == 2*cfg.Pairs {
			logf("%d A and %d B windows undisturbed of %d each: measuring more pairs", clean(Without), clean(With), cfg.Pairs)
		}
		kind := Kind(i % 2)
		w := Window{Kind: kind}
		from := clk.now()
		if kind == With {
			pol.start()
		}
		sr, err := snd.Run(ctx, perGroup, cfg.Window)
		to := clk.now()
		if kind == With {
			pol.end()
		}
		if err != nil {
			return nil, err
		}
		expect += sr.Sent
		m.await(expect)
		after, err := m.snap()
		if err != nil {
			return nil, err
		}
		if len(spans) > 0 {
			w.Start = time.Duration(from - spans[0].from)
		}
		w.Elapsed, w.Wall = sr.Elapsed, after.at.Sub(before.at)
		w.Sent, w.SendErrors = sr.Sent, sr.Errors
		w.InputRate = perSecond(float64(sr.Sent), sr.Elapsed)
		w.SendTarget = perGroup * float64(cfg.Channels) * sr.Elapsed.Seconds()
		w.FetchTarget = cfg.FetchRate() * float64(to-from) / 1e9
		after.sub(before, m.worker, &w)
		spans = append(spans, span{from, to})
		rep.Windows = append(rep.Windows, w)
		logf("window %d (%v): sent %d, received %d, kernel drops %d, TS lost %d; CPU %.3f µs a datagram (worker %.3f), core %.2f busy, other tasks %.2f, steal %.2f",
			i+1, kind, w.Sent, w.Received, w.KernelDrops, w.TSLost, w.CPUPerDatagram(), w.WorkerPerDatagram(), w.BusyShare(),
			perSecond(w.Foreign.Seconds(), w.Wall), perSecond(w.Steal.Seconds(), w.Wall))
		if why := w.Disturbed(cfg); why != "" {
			logf("window %d disturbed: %s", i+1, why)
		}
		before = after
	}
	hls.end()
	hlsRunning = false
	final, err := m.drain()
	if err != nil {
		return nil, err
	}
	rep.TotalReceived = final - base
	pol.check()
	for i := range rep.Windows {
		w := &rep.Windows[i]
		rep.TotalSent += w.Sent
		var p *pollers
		if w.Kind == With {
			p = pol
		}
		fill(w, hls, p, spans[i].from, spans[i].to)
		logf("window %d (%v): %d segment fetches, p50 %.3f ms, p99 %.3f ms, %.3f Gbit/s; %d polls, p50 %.3f ms, p99 %.3f ms, %.0f bytes",
			i+1, w.Kind, w.Fetches, float64(w.FetchDist.P50)/1e6, float64(w.FetchDist.P99)/1e6, w.Gbps(),
			w.Polls, float64(w.PollDist.P50)/1e6, float64(w.PollDist.P99)/1e6, w.AnswerBytes())
	}
	hls.mu.Lock()
	rep.FirstFetchError = hls.first
	hls.mu.Unlock()
	pol.mu.Lock()
	rep.FirstPollError = pol.first
	pol.mu.Unlock()
	stopped = true
	if err := d.Stop(); err != nil {
		return nil, err
	}
	rep.End()
	return rep, nil
}

// warmUp sends until every channel takes data in, finds the receive
// worker with ingest alone, and goes on until every playlist lists
// SegmentCount segments.
func warmUp(ctx context.Context, cfg Config, rep *Report, d *daemon.Daemon, m *meter, snd *sender.Sender, perGroup float64,
	names []string, logf func(string, ...any)) error {
	wctx, cancel := context.WithTimeout(ctx, cfg.WarmMax)
	defer cancel()
	type out struct{ err error }
	done := make(chan out, 1)
	go func() {
		_, err := snd.Run(wctx, perGroup, cfg.WarmMax)
		done <- out{err}
	}()
	stopSender := func() error {
		cancel()
		o := <-done
		if o.err != nil && !errors.Is(o.err, context.Canceled) && !errors.Is(o.err, context.DeadlineExceeded) {
			return o.err
		}
		return nil
	}
	fail := func(err error) error {
		stopSender()
		return err
	}
	started := func() (bool, error) {
		mt, err := d.Metrics(ctx)
		if err != nil {
			return false, err
		}
		for _, n := range names {
			if mt.Stream("slabcast_input_datagrams_total", n, "") == 0 {
				return false, nil
			}
		}
		return true, nil
	}
	for {
		ok, err := started()
		if err != nil {
			return fail(err)
		}
		if ok {
			break
		}
		if wctx.Err() != nil {
			return fail(fmt.Errorf("api: not every channel took data in within %v", cfg.WarmMax))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The receive worker: with ingest alone, the thread with the most CPU
	// time, if it has at least half of the process's.
	t0, err := threadTimes(d.PID())
	if err != nil {
		return fail(err)
	}
	time.Sleep(findFor)
	t1, err := threadTimes(d.PID())
	if err != nil {
		return fail(err)
	}
	var total, best time.Duration
	tid := 0
	for id, v := range t1 {
		dv := v - t0[id]
		total += dv
		if dv > best {
			best, tid = dv, id
		}
	}
	if total > 0 && best*2 >= total {
		rep.WorkerFound, rep.WorkerShare, m.worker = true, best.Seconds()/total.Seconds(), tid
		logf("receive worker: thread %d, %.0f%% of the daemon's CPU time with ingest alone (%v of %v)",
			tid, 100*rep.WorkerShare, best.Round(time.Millisecond), total.Round(time.Millisecond))
	} else {
		logf("receive worker not found: the busiest thread had %v of the daemon's %v", best, total)
	}
	for _, n := range names {
		left := time.Until(deadlineOf(wctx))
		if _, err := d.WaitSegments(wctx, n, cfg.SegmentCount, left); err != nil {
			return fail(fmt.Errorf("api: warm-up: %w", err))
		}
	}
	return stopSender()
}

func deadlineOf(ctx context.Context) time.Time {
	t, _ := ctx.Deadline()
	return t
}

// meter reads the daemon's counters and CPU times.
type meter struct {
	ctx    context.Context
	d      *daemon.Daemon
	cpu    int // the daemon's core
	worker int // the receive worker's thread id; 0 unknown
}

type snapshot struct {
	at          time.Time
	threads     map[int]time.Duration
	ticks, busy time.Duration
	core, steal time.Duration // the daemon core's user+nice+system and steal
	backlog     uint64
	metrics     daemon.Metrics
}

func (m *meter) snap() (snapshot, error) {
	s := snapshot{at: time.Now()}
	var err error
	if s.threads, err = threadTimes(m.d.PID()); err != nil {
		return s, err
	}
	if s.ticks, err = proc.ProcessCPU(m.d.PID()); err != nil {
		return s, err
	}
	if s.busy, err = proc.CoreBusy(m.cpu); err != nil {
		return s, err
	}
	if s.core, s.steal, err = coreTimes(m.cpu); err != nil {
		return s, err
	}
	if s.backlog, err = proc.BacklogDrops(); err != nil {
		return s, err
	}
	s.metrics, err = m.d.Metrics(m.ctx)
	return s, err
}

// sub sets w's ingest figures to what happened between b and s; worker
// is the receive worker's thread id, 0 when unknown.
func (s snapshot) sub(b snapshot, worker int, w *Window) {
	delta := func(name string) uint64 { return uint64(max(0, s.metrics.Sum(name)-b.metrics.Sum(name))) }
	w.Received = delta("slabcast_input_datagrams_total")
	w.KernelDrops = delta("slabcast_input_kernel_drops_total")
	w.TSLost = delta("slabcast_input_ts_lost_total")
	w.Dropped = delta("slabcast_dropped_packets_total")
	w.PoolExhausted = delta("slabcast_pool_exhausted_total")
	w.Segments = int(delta("slabcast_segments_total"))
	w.HTTPRequests = delta("slabcast_http_requests_total")
	w.BacklogDrops = s.backlog - b.backlog
	w.Ticks, w.Busy = max(0, s.ticks-b.ticks), max(0, s.busy-b.busy)
	w.Foreign = max(0, s.core-b.core-w.Ticks)
	w.Steal = max(0, s.steal-b.steal)
	for id, v := range s.threads {
		w.CPU += max(0, v-b.threads[id]) // a thread born in the window counts from 0
	}
	if _, ok := s.threads[worker]; ok && worker != 0 {
		w.Worker = max(0, s.threads[worker]-b.threads[worker])
	}
}

func (m *meter) received() (uint64, error) {
	mt, err := m.d.Metrics(m.ctx)
	if err != nil {
		return 0, err
	}
	return uint64(mt.Sum("slabcast_input_datagrams_total")), nil
}

// await waits, up to catchUp, until the daemon has counted want datagrams:
// it reads the last of a window within a millisecond or so; a count that
// falls short after that is loss, which the window shows.
func (m *meter) await(want uint64) {
	deadline := time.Now().Add(catchUp)
	for time.Now().Before(deadline) && m.ctx.Err() == nil {
		if n, err := m.received(); err == nil && n >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drain waits until the daemon's datagram count stops moving for
// drainQuiet (at most drainMax) and returns it.
func (m *meter) drain() (uint64, error) {
	start := time.Now()
	last, err := m.received()
	if err != nil {
		return 0, err
	}
	moved := start
	for time.Since(start) < drainMax && m.ctx.Err() == nil {
		time.Sleep(25 * time.Millisecond)
		n, err := m.received()
		if err != nil {
			return 0, err
		}
		if n != last {
			last, moved = n, time.Now()
		}
		if time.Since(moved) >= drainQuiet {
			break
		}
	}
	return last, nil
}

// coreTimes returns the time core cpu spent running tasks (user, nice,
// system) and the time the hypervisor stole from it, from /proc/stat.
func coreTimes(cpu int) (tasks, steal time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("api: %w", err)
	}
	return parseCoreTimes(data, cpu)
}

func parseCoreTimes(data []byte, cpu int) (tasks, steal time.Duration, err error) {
	prefix := []byte("cpu" + strconv.Itoa(cpu) + " ")
	for line := range bytes.Lines(data) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line)[1:]
		if len(f) < 8 {
			break
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(string(f[i]), 10, 64); err != nil {
				return 0, 0, fmt.Errorf("api: /proc/stat cpu%d: %w", cpu, err)
			}
		}
		// user nice system idle iowait irq softirq steal
		return proc.Ticks(v[0] + v[1] + v[2]), proc.Ticks(v[7]), nil
	}
	return 0, 0, fmt.Errorf("api: /proc/stat has no line for cpu%d", cpu)
}

// threadTimes returns the time each thread of process pid has run on a
// CPU, in nanoseconds (the first field of /proc/PID/task/TID/schedstat,
// the scheduler's own account, not sampled in ticks).
func threadTimes(pid int) (map[int]time.Duration, error) {
	dirs, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	out := make(map[int]time.Duration, len(dirs))
	for _, dir := range dirs {
		tid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := bytes.Fields(b)
		if len(f) < 1 {
			return nil, fmt.Errorf("api: %s/schedstat: %q", dir, b)
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("api: %s/schedstat: %w", dir, err)
		}
		out[tid] = time.Duration(ns)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("api: no thread of process %d has a schedstat (a kernel without CONFIG_SCHED_INFO?)", pid)
	}
	return out, nil
}
