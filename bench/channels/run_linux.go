package channels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/feed"
)

// Bounds on the waits around a measured point.
const (
	warmMin    = 500 * time.Millisecond // the shortest warm-up
	warmStep   = 250 * time.Millisecond // sending between warm-up checks
	drainQuiet = 150 * time.Millisecond // counts unchanged this long: drained
	drainMax   = 3 * time.Second
	drainPoll  = 25 * time.Millisecond
	minGoProcs = 4
)

// Run measures slabcast and, when cfg.FFmpeg, ffmpeg at every rate of cfg.
// It must run in a private network namespace (see the package doc).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Point <= 0 || len(cfg.Rates) == 0 || cfg.SegmentDuration <= 0 {
		return nil, errors.New("channels: config needs Point, Rates and SegmentDuration")
	}
	for _, r := range cfg.Rates {
		if !slices.IsSorted(r.Slabcast) || !slices.IsSorted(r.FFmpeg) || len(r.Slabcast) == 0 {
			return nil, fmt.Errorf("channels: rate %v: channel counts must ascend, slabcast's non-empty", r.Mbps)
		}
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := sender.Check(cfg.SenderCPU, cfg.ReceiverCPU); err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	defer proc.AtLeastGoProcs(minGoProcs)()
	rep := &Report{Run: report.Begin(), Config: cfg, Clips: map[float64]string{}}
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/igmp_max_memberships"); err == nil {
		rep.GroupLimit = strings.TrimSpace(string(raw))
	}
	scratch, err := os.MkdirTemp("", "slabcast-channels-")
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	defer os.RemoveAll(scratch)
	bin, err := daemon.Binary(ctx, cfg.Binary, cfg.Root, scratch, logf)
	if err != nil {
		return nil, err
	}
	doFFmpeg := cfg.FFmpeg
	if doFFmpeg {
		if out, err := exec.Command("ffmpeg", "-version").Output(); err != nil {
			rep.FFmpegSkipped = "ffmpeg is not installed (make deps)"
			doFFmpeg = false
		} else {
			rep.FFmpegVer, _, _ = strings.Cut(string(out), "\n")
		}
	} else {
		rep.FFmpegSkipped = "not asked for"
	}
	if cfg.Steer {
		if err := proc.SteerTo(cfg.ReceiverCPU); err != nil {
			logf("%v; the kernel's receive half stays on the sender's core", err)
		} else {
			rep.Steered = true
			defer proc.SteerTo(-1)
		}
	}
	for _, r := range cfg.Rates {
		path, err := clip.ChannelOr(ctx, cfg.ClipDir, r.Mbps, cfg.FallbackClip, logf)
		if err != nil {
			return nil, err
		}
		rep.Clips[r.Mbps] = path
		systems := []System{Slabcast}
		if cfg.Bare {
			systems = append(systems, Bare)
		}
		if doFFmpeg {
			systems = append(systems, FFmpeg)
		}
		for _, sys := range systems {
			s, err := runSeries(ctx, cfg, rep.Start, sys, r, path, bin, scratch, logf)
			if err != nil {
				return nil, fmt.Errorf("channels: %v at %v Mbit/s: %w", sys, r.Mbps, err)
			}
			rep.Series = append(rep.Series, s)
		}
		if r.Mbps == GoalMbps && cfg.Pairs > 0 {
			if err := runPairs(ctx, cfg, rep, doFFmpeg, path, bin, scratch, logf); err != nil {
				return nil, err
			}
		}
	}
	rep.End()
	return rep, nil
}

// runPairs measures each of GoalNs cfg.Pairs more times, slabcast and
// ffmpeg back to back, so that a ratio compares two runs a few seconds
// apart on this shared machine, not two ladders minutes apart. ffmpeg is
// left out at a count its ladder could not carry.
func runPairs(ctx context.Context, cfg Config, rep *Report, doFFmpeg bool, clipPath, bin, scratch string, logf func(string, ...any)) error {
	fc, err := feed.LoadClip(clipPath)
	if err != nil {
		return err
	}
	buf := feed.NewBuffer(fc)
	for _, n := range GoalNs {
		sl := rep.series(Slabcast, GoalMbps)
		if sl == nil || sl.lastAt(n) == nil || !sl.lastAt(n).ZeroLoss() {
			continue
		}
		ff := false
		if f := rep.series(FFmpeg, GoalMbps); doFFmpeg && f != nil {
			p := f.lastAt(n)
			ff = p != nil && p.ZeroLoss()
		}
		for k := 0; k < cfg.Pairs; k++ {
			pr := Pair{N: n}
			sp, err := measurePoint(ctx, cfg, Slabcast, n, buf, bin, scratch)
			if err != nil {
				return err
			}
			pr.Slabcast = sp
			if ff {
				fp, err := measurePoint(ctx, cfg, FFmpeg, n, buf, bin, scratch)
				if err != nil {
					return err
				}
				pr.FFmpeg, pr.HaveFFmpeg = fp, true
			}
			logf("pair %d at %d channels: %s", k+1, n, pr)
			rep.Pairs = append(rep.Pairs, pr)
		}
	}
	return nil
}

// runSeries steps the channel count up until loss.
func runSeries(ctx context.Context, cfg Config, start time.Time, sys System, r Rate, clipPath, bin, scratch string,
	logf func(string, ...any)) (Series, error) {
	fc, err := feed.LoadClip(clipPath)
	if err != nil {
		return Series{}, err
	}
	buf := feed.NewBuffer(fc)
	s := Series{System: sys, Rate: r, Mbps: fc.Bitrate() / 1e6}
	ns := r.Slabcast
	if sys == FFmpeg {
		ns = r.FFmpeg
	}
	for i, n := range ns {
		if cfg.Budget > 0 && time.Since(start) > cfg.Budget {
			s.Skipped = append(s.Skipped, ns[i:]...)
			logf("%v %v Mbit/s: time budget spent, skipping N=%v", sys, r.Mbps, ns[i:])
			break
		}
		ok := false
		for try := 0; try < 2 && !ok; try++ {
			if try == 1 && (!cfg.Retry || sys == FFmpeg) {
				break
			}
			p, err := measurePoint(ctx, cfg, sys, n, buf, bin, scratch)
			if err != nil {
				return s, err
			}
			logf("%-8s %5.2f Mbit/s × %3d = %.2f Gbit/s: sent %d, %s, CPU %.3f cores (%.4f a channel), core %d busy %.2f",
				sys.short(), p.Mbps, n, p.Offered(), p.Sent, lossText(p), p.CPUShare(), p.PerChannel(),
				cfg.ReceiverCPU, p.BusyShare())
			s.Points = append(s.Points, p)
			ok = p.ZeroLoss()
		}
		if !ok {
			s.Lost = true
			break
		}
	}
	for _, p := range s.Points {
		if p.ZeroLoss() && (!s.HaveBest || p.N > s.Best.N) {
			s.Best, s.HaveBest = p, true
		}
	}
	return s, nil
}

func lossText(p Point) string {
	if p.ZeroLoss() {
		return "no loss"
	}
	if p.Started < p.N {
		return fmt.Sprintf("LOSS (only %d of %d channels started within the warm-up)", p.Started, p.N)
	}
	if p.System == Slabcast {
		return fmt.Sprintf("LOSS (received %d, kernel drops %d, backlog drops %d, TS lost %d, dropped for memory %d, alive %d)",
			p.Received, p.KernelDrops, p.BacklogDrops, p.TSLost, p.Dropped, p.Alive)
	}
	return fmt.Sprintf("LOSS (kernel drops %d, backlog drops %d, overruns %d, caught up after %v, alive %d/%d)",
		p.KernelDrops, p.BacklogDrops, p.Overruns, p.CatchUp.Round(time.Millisecond), p.Alive, p.N)
}

// headend is what a point measures: slabcast's daemon or an ffmpeg fleet.
type headend interface {
	cpu() (time.Duration, error)
	// progress is a count that grows while the headend takes in data
	// (slabcast: datagrams received; ffmpeg: CPU time).
	progress() (uint64, error)
	// ready returns how many channels have started to take data in.
	ready() (int, error)
	alive() int
	stop()
}

// memoryFor is the slab pool for n channels of mbps over seconds: every
// stream keeps all it receives for the few seconds a point lasts (its
// window, 2 × segment_count + 1 segments, is longer), plus a quarter for
// partly filled chunks and 32 MiB. Should warm-up run long, a stream gives
// up its oldest unlisted segments first; packets dropped for want of
// memory would count as loss.
func memoryFor(n int, mbps float64, seconds float64) int64 {
	perChannel := mbps * 1e6 / 8 * seconds * 1.25
	m := int64(float64(n)*perChannel) + 32<<20
	return (m + 1<<20 - 1) &^ (1<<20 - 1)
}

// groupPort is the port of every channel when Config.OnePort is set.
const groupPort = 20000

func measurePoint(ctx context.Context, cfg Config, sys System, n int, buf *feed.Buffer, bin, scratch string) (Point, error) {
	groups := sender.Groups(n)
	if cfg.OnePort {
		groups = sender.GroupsOnPort(n, groupPort)
	}
	p := Point{System: sys, N: n, Mbps: buf.Clip().Bitrate() / 1e6}
	perGroup := buf.Clip().Bitrate() / (feed.DatagramSize * 8)
	ports := map[uint16]bool{}
	for _, g := range groups {
		ports[g.Port()] = true
	}
	snd, err := sender.New(groups, cfg.SenderCPU, buf)
	if err != nil {
		return p, fmt.Errorf("channels: %w", err)
	}
	defer snd.Close()
	// A ring sees a UDP GSO burst on lo as one packet, as the loopback
	// device passes it, so ring runs send datagram by datagram.
	if cfg.Burst > 1 && p.Target() > cfg.BurstAbove && n > 1 && !cfg.Ring {
		if err := snd.EnableBursts(cfg.Burst); err != nil {
			return p, fmt.Errorf("channels: %w", err)
		}
		p.Burst = cfg.Burst
	}

	var h headend
	switch sys {
	case Slabcast:
		dir, err := os.MkdirTemp(scratch, "slabcast-")
		if err != nil {
			return p, fmt.Errorf("channels: %w", err)
		}
		defer os.RemoveAll(dir)
		// The whole run: warm-up, the point, drains.
		p.Memory = memoryFor(n, p.Mbps, (cfg.Point + 4*time.Second).Seconds())
		extra := ""
		if cfg.Ring {
			extra = "multicast_ring on;\n"
		}
		d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, CPUs: strconv.Itoa(cfg.ReceiverCPU), Memory: p.Memory,
			Streams: daemon.Channels(groups), SegmentDuration: cfg.SegmentDuration, Extra: extra})
		if err != nil {
			return p, err
		}
		h = &slabHeadend{ctx: ctx, d: d, n: n}
	case FFmpeg:
		dir, err := os.MkdirTemp("/dev/shm", "slabcast-channels-ffmpeg-")
		if err != nil {
			return p, fmt.Errorf("channels: tmpfs for ffmpeg: %w", err)
		}
		defer os.RemoveAll(dir)
		f, err := StartFleet(dir, groups, cfg.ReceiverCPU, cfg.SegmentDuration)
		if err != nil {
			return p, err
		}
		h = &fleetHeadend{f: f}
	case Bare:
		b, err := startBare(groups, cfg.ReceiverCPU)
		if err != nil {
			return p, err
		}
		h = b
	}
	defer h.stop()

	// Warm up: every channel joined and taking data in (slabcast: counting
	// datagrams; ffmpeg: probed and writing its first segment).
	warmStart := time.Now()
	for {
		if _, err := snd.Run(ctx, perGroup, warmStep); err != nil {
			return p, err
		}
		k, err := h.ready()
		if err != nil {
			return p, err
		}
		if k == n && time.Since(warmStart) >= warmMin {
			break
		}
		if time.Since(warmStart) > cfg.WarmMax {
			// Not every channel could start: the headend is past its
			// limit before the point begins, which counts as loss.
			p.Started, p.Alive = k, h.alive()
			return p, nil
		}
	}
	p.Started = n
	drain(ctx, h)

	before, err := snapshot(cfg, h, ports)
	if err != nil {
		return p, err
	}
	t0 := time.Now()
	sr, err := snd.Run(ctx, perGroup, cfg.Point)
	if err != nil {
		return p, err
	}
	p.CatchUp = drain(ctx, h)
	p.Wall = time.Since(t0)
	after, err := snapshot(cfg, h, ports)
	if err != nil {
		return p, err
	}
	p.Sent, p.Elapsed, p.SendErrors = sr.Sent, sr.Elapsed, sr.Errors
	p.BytesSent = int64(sr.Sent) * feed.DatagramSize
	p.CPU = max(0, after.cpu-before.cpu)
	p.CoreBusy = max(0, after.busy-before.busy)
	p.KernelDrops = after.drops - before.drops
	p.BacklogDrops = after.backlog - before.backlog
	p.Alive = h.alive()
	switch h := h.(type) {
	case *slabHeadend:
		m0, m1 := before.metrics, after.metrics
		p.Received = uint64(m1.Sum("slabcast_input_datagrams_total") - m0.Sum("slabcast_input_datagrams_total"))
		p.HaveReceived = true
		p.TSLost = uint64(m1.Sum("slabcast_input_ts_lost_total") - m0.Sum("slabcast_input_ts_lost_total"))
		p.Dropped = uint64(m1.Sum("slabcast_dropped_packets_total") - m0.Sum("slabcast_dropped_packets_total"))
		p.Segments = int(m1.Sum("slabcast_segments_total") - m0.Sum("slabcast_segments_total"))
		// The metric and /proc/net/udp count the same drops; take the
		// larger should they ever disagree.
		p.KernelDrops = max(p.KernelDrops, uint64(m1.Sum("slabcast_input_kernel_drops_total")-m0.Sum("slabcast_input_kernel_drops_total")))
		if h.d.Exited() {
			p.Alive = 0
		}
	case *bareHeadend:
		p.Received, p.HaveReceived = after.received-before.received, true
	case *fleetHeadend:
		p.Segments = after.segments - before.segments
		p.Overruns = after.overruns - before.overruns
		p.Warnings = distinctWarnings(h.f.Warnings(), 6)
	}
	return p, nil
}

type snap struct {
	cpu, busy          time.Duration
	drops, backlog     uint64
	received           uint64 // the bare loop's count
	metrics            daemon.Metrics
	segments, overruns int
}

func snapshot(cfg Config, h headend, ports map[uint16]bool) (snap, error) {
	var s snap
	var err error
	if s.cpu, err = h.cpu(); err != nil {
		return s, err
	}
	if s.busy, err = proc.CoreBusy(cfg.ReceiverCPU); err != nil {
		return s, err
	}
	d, err := proc.UDPDrops(ports)
	if err != nil {
		return s, err
	}
	for _, v := range d {
		s.drops += v
	}
	if s.backlog, err = proc.BacklogDrops(); err != nil {
		return s, err
	}
	switch h := h.(type) {
	case *bareHeadend:
		s.received = h.got.Load()
	case *slabHeadend:
		if s.metrics, err = h.d.Metrics(h.ctx); err != nil {
			return s, err
		}
	case *fleetHeadend:
		_, segs, err := h.f.Written()
		if err != nil {
			return s, err
		}
		for _, n := range segs {
			s.segments += n
		}
		for _, w := range h.f.Warnings() {
			// An overrun is datagrams ffmpeg's reading thread could not
			// queue; a corrupt packet is what its demuxer flags on a
			// continuity counter error (TS packets lost before it).
			if strings.Contains(w, "Circular buffer overrun") || strings.Contains(w, "Packet corrupt") {
				s.overruns++
			}
		}
	}
	return s, nil
}

// drain waits until the headend's progress count stops moving for
// drainQuiet, bounded by drainMax, and returns how long after the call it
// last moved: the time the headend needed to catch up with what had been
// sent.
func drain(ctx context.Context, h headend) time.Duration {
	start := time.Now()
	last, _ := h.progress()
	moved := start
	for time.Since(start) < drainMax && ctx.Err() == nil {
		time.Sleep(drainPoll)
		n, _ := h.progress()
		if n != last {
			last, moved = n, time.Now()
		}
		if time.Since(moved) >= drainQuiet {
			break
		}
	}
	return moved.Sub(start)
}

type slabHeadend struct {
	ctx context.Context
	d   *daemon.Daemon
	n   int
}

func (h *slabHeadend) cpu() (time.Duration, error) { return proc.ProcessCPU(h.d.PID()) }

func (h *slabHeadend) progress() (uint64, error) {
	m, err := h.d.Metrics(h.ctx)
	if err != nil {
		return 0, err
	}
	return uint64(m.Sum("slabcast_input_datagrams_total")), nil
}

func (h *slabHeadend) ready() (int, error) {
	m, err := h.d.Metrics(h.ctx)
	if err != nil {
		return 0, err
	}
	k := 0
	for i := range h.n {
		if m.Stream("slabcast_input_datagrams_total", daemon.ChannelName(i), "") > 0 {
			k++
		}
	}
	return k, nil
}

func (h *slabHeadend) alive() int {
	if h.d.Exited() {
		return 0
	}
	return 1
}

func (h *slabHeadend) stop() { h.d.Stop() }

type fleetHeadend struct{ f *Fleet }

func (h *fleetHeadend) cpu() (time.Duration, error) { return h.f.CPU() }

// progress is the fleet's CPU time: ffmpeg writes segments whole, so its
// output cannot show how far it has read, but a fleet that has caught up
// sits idle in recv.
func (h *fleetHeadend) progress() (uint64, error) {
	d, err := h.f.CPU()
	return uint64(d), err
}

func (h *fleetHeadend) ready() (int, error) {
	if h.f.Alive() != len(h.f.procs) {
		return 0, fmt.Errorf("an ffmpeg ended at start (%v): %s", h.f.exitErr(), strings.Join(distinctWarnings(h.f.Warnings(), 6), "; "))
	}
	// A channel's first segment file appears once ffmpeg has probed the
	// stream and started the HLS muxer.
	_, segs, err := h.f.Written()
	if err != nil {
		return 0, err
	}
	k := 0
	for _, n := range segs {
		if n > 0 {
			k++
		}
	}
	return k, nil
}

func (h *fleetHeadend) alive() int { return h.f.Alive() }

func (h *fleetHeadend) stop() { h.f.Stop() }

// ffmpegAddr matches the object address in an ffmpeg log line's prefix
// ("[udp @ 0x55d0c0a1b2c0]"), which differs between processes.
var ffmpegAddr = regexp.MustCompile(`@ 0x[0-9a-f]+\]`)

// distinctWarnings returns up to limit distinct lines (object addresses
// blanked), each with how often it occurred: "N× line".
func distinctWarnings(lines []string, limit int) []string {
	count := map[string]int{}
	var order []string
	for _, l := range lines {
		l = ffmpegAddr.ReplaceAllString(l, "@ …]")
		if count[l] == 0 {
			order = append(order, l)
		}
		count[l]++
	}
	var out []string
	for _, l := range order {
		if len(out) == limit {
			out = append(out, fmt.Sprintf("… and %d more distinct lines", len(order)-limit))
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", count[l], l))
	}
	return out
}
