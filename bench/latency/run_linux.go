package latency

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/ts"
)

const (
	minGoProcs = 8                      // pinned threads never wait for a P
	startLimit = 15 * time.Second       // sending before the first segment and the client must be there
	tail       = 300 * time.Millisecond // sending after the window, so its last markers have followers
	settle     = 200 * time.Millisecond // after the sender stops, before observers stop
)

// Run measures every clip of cfg: first against the bare relay, then
// against slabcast. It must run in a private network namespace (see the
// package doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Clips) == 0 || cfg.Window <= 0 || cfg.RelayWindow <= 0 || cfg.SegmentDuration <= 0 {
		return nil, errors.New("latency: config needs Clips, Window, RelayWindow and SegmentDuration")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := sender.Check(cfg.SenderCPU, cfg.DaemonCPU); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	first, err := netip.ParseAddrPort(cfg.Group)
	if err != nil || !first.Addr().Is4() || !first.Addr().IsMulticast() {
		return nil, fmt.Errorf("latency: group %q is not an IPv4 multicast group:port", cfg.Group)
	}
	groups := make([]netip.AddrPort, len(cfg.Clips)+1) // one per clip, then the relay's
	a := first.Addr()
	for i := range groups {
		groups[i] = netip.AddrPortFrom(a, first.Port())
		a = a.Next()
	}
	defer proc.AtLeastGoProcs(minGoProcs)()
	rep := &Report{Run: report.Begin(), Config: cfg}

	dir, err := os.MkdirTemp("", "slabcast-latency-")
	if err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	defer os.RemoveAll(dir)
	clipDir := cfg.ClipDir
	if clipDir == "" {
		clipDir = filepath.Join(os.TempDir(), "slabcast-bench-clips")
	}
	plans := make([]*plan, len(cfg.Clips))
	for i, c := range cfg.Clips {
		path, err := makeClip(ctx, c, clipDir, cfg.GOP)
		if err != nil {
			return nil, err
		}
		if plans[i], err = newPlan(path); err != nil {
			return nil, fmt.Errorf("latency: clip %q: %w", c.Name, err)
		}
		logf("clip %s: %s, %.2f Mbit/s, %d datagrams a %.2f s loop", c.Name, path,
			plans[i].bitrate/1e6, plans[i].clip.Datagrams(), plans[i].loop.Seconds())
	}
	rep.Build = "the binary " + cfg.Binary
	if cfg.Binary == "" {
		rep.Build = daemon.DescribeTree(cfg.ModuleRoot)
	}
	bin, err := daemon.Binary(ctx, cfg.Binary, cfg.ModuleRoot, dir, logf)
	if err != nil {
		return nil, err
	}
	// One stream per clip, s0, s1, …, then the background channels b0, b1,
	// … on the clips' port.
	streams := make([]daemon.Stream, len(cfg.Clips))
	for i := range cfg.Clips {
		streams[i] = daemon.Stream{Name: fmt.Sprintf("s%d", i), Input: "udp://" + groups[i].String()}
	}
	nbg := 0
	for _, c := range cfg.Clips {
		nbg = max(nbg, c.Background)
	}
	bgGroups := sender.GroupsOnPort(nbg, first.Port())
	for i, g := range bgGroups {
		streams = append(streams, daemon.Stream{Name: fmt.Sprintf("b%d", i), Input: "udp://" + g.String()})
	}
	var bgBuf *feed.Buffer
	if nbg > 0 {
		path, err := clip.Channel(ctx, clipDir, BackgroundMbps)
		if err != nil {
			return nil, err
		}
		fc, err := feed.LoadClip(path)
		if err != nil {
			return nil, err
		}
		bgBuf = feed.NewBuffer(fc)
	}
	// 256 MiB, and room for the background channels' windows (6 segments
	// of 0.5 s, plus the time a segment lingers after it leaves).
	memory := int64(256<<20) + int64(nbg)*(BackgroundMbps<<20)
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, CPUs: strconv.Itoa(cfg.DaemonCPU), Streams: streams,
		Memory: memory, SegmentDuration: cfg.SegmentDuration, SegmentCount: 6, Env: cfg.DaemonEnv, Extra: cfg.DaemonConfig})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Stop()
		}
		if cfg.KeepLog != "" {
			if b, err := os.ReadFile(d.LogPath()); err == nil {
				os.WriteFile(cfg.KeepLog, b, 0o644)
			}
		}
	}()

	// Threads this process does not pin keep off the daemon's core (the
	// pinned ones, the relay's included, set their own affinity).
	restore, err := proc.Confine(cfg.SenderCPU)
	if err != nil {
		return nil, err
	}
	defer restore()

	clk := clock{epoch: time.Now()}
	seed := maphash.MakeSeed()
	for i, c := range cfg.Clips {
		snd := newPacer(plans[i], clk, seed, cfg.SenderCPU)
		res := Result{Clip: c, Bitrate: plans[i].bitrate}
		if err := measureRelay(ctx, cfg, snd, groups[len(groups)-1], &res); err != nil {
			return nil, err
		}
		logf("%-10s bare relay: /mpegts p50 %v p99 %v max %v (%d samples)", c.Name,
			res.Relay.P50, res.Relay.P99, res.Relay.Max, res.Relay.N)
		stopBg := func() (sender.Result, error) { return sender.Result{}, nil }
		if c.Background > 0 {
			if stopBg, err = background(ctx, cfg, bgGroups[:c.Background], bgBuf); err != nil {
				return nil, err
			}
		}
		err := measureSlabcast(ctx, cfg, snd, groups[i], d, fmt.Sprintf("/s%d/", i), &res)
		bg, bgErr := stopBg()
		if err != nil {
			return nil, fmt.Errorf("%w (slabcast log: %s)", err, d.Log())
		}
		if bgErr != nil {
			return nil, fmt.Errorf("latency: background sender: %w", bgErr)
		}
		if c.Background > 0 {
			res.BackgroundSent = bg.Sent
			if bg.Elapsed > 0 {
				res.BackgroundGbps = float64(bg.Sent) * feed.DatagramSize * 8 / bg.Elapsed.Seconds() / 1e9
			}
			logf("%-10s background: %d channels, %.2f Gbit/s sent", c.Name, c.Background, res.BackgroundGbps)
		}
		logf("%-10s slabcast:   /mpegts p50 %v p99 %v max %v (%d samples); playlist p50 %v p99 %v max %v (%d samples, poll every %v)",
			c.Name, res.MPEGTS.P50, res.MPEGTS.P99, res.MPEGTS.Max, res.MPEGTS.N,
			res.Playlist.P50, res.Playlist.P99, res.Playlist.Max, res.Playlist.N, res.PollPeriod.P50)
		rep.Results = append(rep.Results, res)
	}
	stopped = true
	if err := d.Stop(); err != nil {
		return nil, err
	}
	rep.End()
	return rep, nil
}

// background starts sending groups at BackgroundMbps each, sleeping
// through its waits (it shares the measuring threads' core), until the
// returned stop is called.
func background(ctx context.Context, cfg Config, groups []netip.AddrPort, buf *feed.Buffer) (stop func() (sender.Result, error), err error) {
	snd, err := sender.New(groups, cfg.SenderCPU, buf)
	if err != nil {
		return nil, fmt.Errorf("latency: background sender: %w", err)
	}
	snd.Gentle = true
	bctx, cancel := context.WithCancel(ctx)
	type out struct {
		r   sender.Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		r, err := snd.Run(bctx, buf.Clip().Bitrate()/(feed.DatagramSize*8), time.Hour)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		ch <- out{r, err}
	}()
	return func() (sender.Result, error) {
		cancel()
		o := <-ch
		snd.Close()
		return o.r, o.err
	}, nil
}

func measureRelay(ctx context.Context, cfg Config, snd *pacer, group netip.AddrPort, res *Result) error {
	r, err := newRelay(group)
	if err != nil {
		return err
	}
	defer r.close()
	fd, err := sender.Dial(group)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	defer unix.Close(fd)
	relayDone := pinned(cfg.DaemonCPU, r.serve)
	cl := &tsClient{clk: snd.clk, seed: snd.seed}
	cl.log = make([]seen, 0, packetsFor(snd.pl, cfg.Warmup+cfg.RelayWindow+tail))
	clientDone := pinned(cfg.SenderCPU, func() error { return cl.run(r.addr, "/") })
	defer func() { // before the sockets close
		cl.stop.Store(true)
		r.stop.Store(true)
		clientDone.wait()
		relayDone.wait()
	}()
	if err := waitFor(ctx, func() bool { return cl.first.Load() != 0 }, clientDone, relayDone); err != nil {
		return fmt.Errorf("latency: bare relay: %w", err)
	}
	now := snd.clk.now()
	warm := min(cfg.Warmup, time.Second)
	w := window{now + int64(warm), now + int64(warm+cfg.RelayWindow)}
	var end atomic.Int64
	end.Store(w.to + int64(tail))
	if err := snd.run(ctx, fd, &end, warm+cfg.RelayWindow+tail); err != nil {
		return err
	}
	time.Sleep(settle)
	cl.stop.Store(true)
	r.stop.Store(true)
	if err := firstErr(clientDone.wait(), relayDone.wait()); err != nil {
		return err
	}
	lat, missing := matchMarkers(snd.markers, cl.log, w)
	res.Relay, res.MissingRelay = NewDist(lat), missing
	if res.Relay.N == 0 {
		return errors.New("latency: bare relay: no marker came through")
	}
	return nil
}

func measureSlabcast(ctx context.Context, cfg Config, snd *pacer, group netip.AddrPort, d *daemon.Daemon, prefix string, res *Result) error {
	fd, err := sender.Dial(group)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	defer unix.Close(fd)
	var end atomic.Int64
	start := snd.clk.now()
	end.Store(start + int64(startLimit+cfg.Warmup+cfg.Window+tail))
	sendDone := pinned(-1, func() error { return snd.run(ctx, fd, &end, startLimit+cfg.Warmup+cfg.Window+tail) })
	stopSender := func() error {
		end.Store(0)
		return sendDone.wait()
	}

	pol := &poller{clk: snd.clk, interval: cfg.PollInterval}
	want := int((startLimit+cfg.Warmup+cfg.Window)/max(cfg.PollInterval, 50*time.Microsecond)) + 1024
	pol.starts = make([]int64, 0, want)
	pol.rtts = make([]time.Duration, 0, want)
	pollDone := pinned(cfg.SenderCPU, func() error { return pol.run(d.HTTP(), prefix+"index.m3u8") })
	cl := &tsClient{clk: snd.clk, seed: snd.seed}
	cl.log = make([]seen, 0, packetsFor(snd.pl, startLimit+cfg.Warmup+cfg.Window+tail))
	var clientDone *task
	stopAll := func() {
		pol.stop.Store(true)
		cl.stop.Store(true)
	}
	defer func() {
		stopAll()
		pollDone.wait()
		if clientDone != nil {
			clientDone.wait()
		}
	}()

	fail := func(err error) error {
		stopAll()
		stopSender()
		return fmt.Errorf("latency: slabcast: %w", err)
	}
	if err := waitFor(ctx, pol.ready.Load, pollDone, sendDone); err != nil {
		return fail(err)
	}
	clientDone = pinned(cfg.SenderCPU, func() error { return cl.run(d.HTTP(), prefix+"mpegts") })
	if err := waitFor(ctx, func() bool { return cl.first.Load() != 0 }, clientDone, pollDone, sendDone); err != nil {
		return fail(err)
	}
	now := snd.clk.now()
	w := window{now + int64(cfg.Warmup), now + int64(cfg.Warmup+cfg.Window)}
	end.Store(w.to + int64(tail))
	if err := sendDone.wait(); err != nil {
		stopAll()
		return err
	}
	time.Sleep(settle)
	stopAll()
	if err := firstErr(clientDone.wait(), pollDone.wait()); err != nil {
		return err
	}

	for _, t := range snd.times {
		if w.has(t) {
			res.Datagrams++
		}
	}
	res.SendLate = snd.late
	lat, missing := matchMarkers(snd.markers, cl.log, w)
	res.MPEGTS, res.MissingMPEGTS = NewDist(lat), missing
	var pl []time.Duration
	pl, res.Consistent, res.Ambiguous = attribute(snd.keyframes, pol.seen, w)
	res.Playlist = NewDist(pl)
	var periods, rtts []time.Duration
	for i, t := range pol.starts {
		if !w.has(t) {
			continue
		}
		res.Polls++
		rtts = append(rtts, pol.rtts[i])
		if i > 0 {
			periods = append(periods, time.Duration(t-pol.starts[i-1]))
		}
	}
	res.PollPeriod, res.PollRTT = NewDist(periods), NewDist(rtts)
	if res.MPEGTS.N == 0 || res.Playlist.N == 0 {
		return fmt.Errorf("latency: slabcast: %d /mpegts samples, %d playlist samples", res.MPEGTS.N, res.Playlist.N)
	}
	return nil
}

// packetsFor is how many packets the client may read in d, with room to
// spare, so its log never grows (and copies) while it measures.
func packetsFor(pl *plan, d time.Duration) int {
	return int(pl.bitrate/8/ts.PacketSize*d.Seconds()*1.2) + 4096
}

// waitFor polls cond until it holds; it fails when ctx ends, when one of
// the goroutines behind errs returns first, or after startLimit.
func waitFor(ctx context.Context, cond func() bool, tasks ...*task) error {
	deadline := time.Now().Add(startLimit)
	for !cond() {
		for _, t := range tasks {
			if t.ended() {
				if t.err == nil {
					return errors.New("stopped early")
				}
				return t.err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing after %v", startLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
