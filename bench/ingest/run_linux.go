package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/nic"
)

// Bounds on the waits around a measured point.
const (
	warmRate    = 20000 // datagrams/s while a receiver warms up
	warmPoint   = 200 * time.Millisecond
	warmTries   = 10
	drainQuiet  = 100 * time.Millisecond // receive count unchanged this long: drained
	drainMax    = 2 * time.Second
	drainPoll   = 10 * time.Millisecond
	minGoProcs  = 4 // sender, receiver and the rest never wait for a P
	lowestSteps = 3 // halvings tried below Steps[0] when it already loses
)

// Run measures every receiver of cfg in turn. It must run in a private
// network namespace (see the package doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Point <= 0 || len(cfg.Receivers) == 0 || len(cfg.Steps) == 0 {
		return nil, errors.New("ingest: config needs Point, Steps and Receivers")
	}
	if !slices.IsSorted(cfg.Steps) {
		return nil, errors.New("ingest: Steps must ascend")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := sender.Check(cfg.SenderCPU, cfg.ReceiverCPU); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	clip, err := feed.LoadClip(cfg.Clip)
	if err != nil {
		return nil, err
	}
	url := "udp://" + cfg.Group
	src, err := nic.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("ingest: group: %w", err)
	}
	if !src.Multicast {
		return nil, fmt.Errorf("ingest: group %s is not multicast", cfg.Group)
	}
	snd, err := sender.New([]netip.AddrPort{src.Addr}, cfg.SenderCPU, feed.NewBuffer(clip))
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer snd.Close()
	if cfg.GSO {
		if err := snd.EnableGSO(); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	defer proc.AtLeastGoProcs(minGoProcs)()

	rep := &Report{
		Run:         report.Begin(),
		Config:      cfg,
		ClipBitrate: clip.Bitrate(),
		ClipPass:    clip.PassDuration(),
	}
	if cfg.Steer {
		if err := proc.SteerTo(cfg.ReceiverCPU); err != nil {
			logf("%v; the kernel's receive half stays on the sender's core", err)
		} else {
			rep.Steered = true
			defer proc.SteerTo(-1)
		}
	}
	var base float64 // the first receiver's saturation rate: the ladder's unit
	for _, kind := range cfg.Receivers {
		res, err := measureReceiver(ctx, cfg, kind, src, url, snd, &base, logf)
		if err != nil {
			return nil, fmt.Errorf("ingest: %v: %w", kind, err)
		}
		rep.Results = append(rep.Results, res)
	}
	rep.End()
	return rep, nil
}

func openReceiver(cfg Config, kind Receiver, src nic.Source, url string, logf func(string, ...any)) (receiver, string, error) {
	switch kind {
	case Bare:
		r, err := newBareReceiver(src, cfg.ReceiverCPU, cfg.RecvBuffer)
		return r, "", err
	case Filter, NoFilter:
		mode := ""
		if kind == Filter {
			m, why := bpf.Probe()
			mode = m.String()
			if why != nil {
				logf("filter: %v (%v)", m, why)
			}
		}
		plog := func(format string, args ...any) { logf("pipeline: "+format, args...) }
		r, err := newPipelineReceiver(url, cfg.ReceiverCPU, cfg.RecvBuffer, cfg.Memory, kind == NoFilter, plog)
		return r, mode, err
	}
	return nil, "", fmt.Errorf("unknown receiver %d", kind)
}

func measureReceiver(ctx context.Context, cfg Config, kind Receiver, src nic.Source, url string,
	snd *sender.Sender, base *float64, logf func(string, ...any)) (Result, error) {
	res := Result{Receiver: kind}
	rcv, mode, err := openReceiver(cfg, kind, src, url, logf)
	if err != nil {
		return res, err
	}
	defer rcv.close()
	res.FilterMode = mode

	// Warm up: the socket joins asynchronously in the pipeline, and the
	// segmenter needs PSI and a keyframe before it stores anything.
	got := false
	for range warmTries {
		if _, err := snd.Run(ctx, warmRate, warmPoint); err != nil {
			return res, err
		}
		if n, _ := rcv.counts(); n > 0 {
			got = true
			break
		}
	}
	if !got {
		return res, errNoTraffic
	}
	drain(ctx, rcv, 0)

	point := func(rate float64) (Point, error) {
		p, err := measure(ctx, cfg, snd, rcv, rate)
		if err != nil {
			return p, err
		}
		what := "flat out"
		if rate > 0 {
			what = fmt.Sprintf("paced %.0f/s", rate)
		}
		logf("%-22v %-16s sent %9.0f/s received %9.0f/s lost %d (socket drops %d, backlog drops %d) receiver CPU %.2f",
			kind, what, p.Offered(), p.Rate(), p.Lost(), p.Drops, p.BacklogDrops, p.CPUShare())
		if p.Received > p.Sent {
			return p, fmt.Errorf("received %d datagrams of %d sent: duplicates on lo", p.Received, p.Sent)
		}
		return p, nil
	}
	if res.Saturation, err = point(0); err != nil {
		return res, err
	}

	// Step up until loss, then bisect.
	var good, bad float64 // rates: last without loss, first with
	try := func(rate float64) (bool, error) {
		p, err := point(rate)
		if err != nil {
			return false, err
		}
		res.Points = append(res.Points, p)
		if p.ZeroLoss() {
			return true, nil
		}
		// Other work on a shared machine can cost a point datagrams: a
		// lossy rate is measured once more and passes if that run is clean.
		if p, err = point(rate); err != nil {
			return false, err
		}
		res.Points = append(res.Points, p)
		return p.ZeroLoss(), nil
	}
	maxRate := res.Saturation.Offered() * 1.02 // beyond it the sender cannot pace
	step := func(rate float64) error {
		ok, err := try(rate)
		if ok {
			good = rate
		} else if err == nil {
			bad = rate
		}
		return err
	}
	// The first receiver sets the ladder's unit: its highest rate without
	// loss, found by doubling, then bisecting. Its rate flat out is no unit:
	// a sender that outruns it (UDP GSO) can keep its core busy in the
	// kernel's receive half, which then leaves the receiver almost nothing
	// (a receive livelock). Later receivers step up fractions of that unit.
	first := *base == 0
	var rates []float64
	refine := cfg.Refine
	if first {
		for rate := float64(startRate); rate <= maxRate; rate *= 2 {
			rates = append(rates, rate)
		}
		refine += 2
	} else {
		for _, f := range cfg.Steps {
			if rate := f * *base; rate <= maxRate {
				rates = append(rates, rate)
			}
		}
	}
	for _, rate := range rates {
		if err := step(rate); err != nil {
			return res, err
		}
		if bad > 0 {
			break
		}
	}
	if first && bad == 0 {
		bad = maxRate
	}
	for i := 0; good == 0 && bad > 0 && i < lowestSteps; i++ {
		if err := step(bad / 2); err != nil {
			return res, err
		}
	}
	for i := 0; good > 0 && bad > 0 && i < refine; i++ {
		if err := step((good + bad) / 2); err != nil {
			return res, err
		}
	}
	if first {
		*base = good
	}
	return finishReceiver(res, rcv), nil
}

// startRate is where the first receiver's search for its highest rate
// without loss begins, datagrams per second.
const startRate = 100_000

// finishReceiver picks the receiver's best zero-loss point and takes its
// counters.
func finishReceiver(res Result, rcv receiver) Result {
	for _, p := range append([]Point{res.Saturation}, res.Points...) {
		if p.ZeroLoss() && (!res.HaveBest || p.Offered() > res.Best.Offered()) {
			res.Best, res.HaveBest = p, true
		}
	}
	res.Stats, res.HaveStats = rcv.extra()
	return res
}

// measure sends at rate (0: flat out) for cfg.Point and waits until the
// receiver has drained its queue.
func measure(ctx context.Context, cfg Config, snd *sender.Sender, rcv receiver, rate float64) (Point, error) {
	p := Point{Target: rate}
	s0, err := sample(cfg, rcv)
	if err != nil {
		return p, err
	}
	t0 := time.Now()
	sr, err := snd.Run(ctx, rate, cfg.Point)
	if err != nil {
		return p, err
	}
	drain(ctx, rcv, s0.received+sr.Sent)
	p.Wall = time.Since(t0)
	s1, err := sample(cfg, rcv)
	if err != nil {
		return p, err
	}
	p.BacklogDrops = s1.backlog - s0.backlog
	p.Sent, p.Elapsed, p.SendErrors = sr.Sent, sr.Elapsed, sr.Errors
	p.Received, p.Drops = s1.received-s0.received, s1.drops-s0.drops
	p.ThreadCPU, p.CoreBusy = max(0, s1.thread-s0.thread), max(0, s1.busy-s0.busy)
	return p, nil
}

// counters is what measure reads at either end of a point.
type counters struct {
	received, drops, backlog uint64
	thread, busy             time.Duration
}

func sample(cfg Config, rcv receiver) (c counters, err error) {
	c.received, c.drops = rcv.counts()
	if c.thread, err = proc.ThreadCPU(cfg.ReceiverCPU); err != nil {
		return c, err
	}
	if c.busy, err = proc.CoreBusy(cfg.ReceiverCPU); err != nil {
		return c, err
	}
	c.backlog, err = proc.BacklogDrops()
	return c, err
}

// drain waits until the receiver has counted want datagrams or its count
// stopped moving, then for its settle time; bounded by drainMax.
func drain(ctx context.Context, rcv receiver, want uint64) {
	start := time.Now()
	last, _ := rcv.counts()
	quiet := time.Now()
	for time.Since(start) < drainMax && ctx.Err() == nil {
		time.Sleep(drainPoll)
		n, _ := rcv.counts()
		if n != last {
			last, quiet = n, time.Now()
		}
		if want > 0 && n >= want || time.Since(quiet) >= drainQuiet {
			break
		}
	}
	if s := rcv.settle(); s > 0 {
		time.Sleep(s)
	}
}
