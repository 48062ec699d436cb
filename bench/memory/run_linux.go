package memory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/feed"
	"github.com/slabcast/slabcast/ts"
)

// Run measures the daemon with no stream, then every case of cfg.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Cases) == 0 || cfg.SegmentDuration <= 0 || cfg.SegmentCount <= 0 || cfg.Idle <= 0 {
		return nil, errors.New("memory: config needs Cases, SegmentDuration, SegmentCount and Idle")
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := sender.Check(cfg.SenderCPU, cfg.ReceiverCPU); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	rep := &Report{Run: report.Begin(), Config: cfg}
	scratch, err := os.MkdirTemp("", "slabcast-memory-")
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	defer os.RemoveAll(scratch)
	bin, err := daemon.Binary(ctx, cfg.Binary, cfg.Root, scratch, logf)
	if err != nil {
		return nil, err
	}
	if rep.Base, err = measureBase(ctx, cfg, bin, scratch); err != nil {
		return nil, err
	}
	logf("no stream: VmRSS %.1f MiB with a %d MiB pool", mib(rep.Base.Mem.VmRSS), rep.Base.Pool>>20)
	bufs := map[float64]*feed.Buffer{}
	for _, c := range cfg.Cases {
		buf := bufs[c.Mbps]
		if buf == nil {
			path, err := clip.ChannelOr(ctx, cfg.ClipDir, c.Mbps, cfg.FallbackClip, logf)
			if err != nil {
				return nil, fmt.Errorf("memory: %w", err)
			}
			fc, err := feed.LoadClip(path)
			if err != nil {
				return nil, fmt.Errorf("memory: %w", err)
			}
			buf = feed.NewBuffer(fc)
			bufs[c.Mbps] = buf
		}
		r, err := measureCase(ctx, cfg, c, buf, bin, scratch)
		if err != nil {
			return nil, fmt.Errorf("memory: %v Mbit/s × %d: %w", c.Mbps, c.N, err)
		}
		logf("%5.2f Mbit/s × %3d: VmRSS %.1f MiB (pool %d MiB), slabs held %.2f MiB a channel against %.2f MiB bitrate × window, "+
			"beyond the pool %.1f MiB; %d mallocs over %d packets and %d segment cuts (%d without traffic)",
			r.Mbps, c.N, mib(r.Mem.VmRSS), r.Pool>>20, r.HeldPerChannel()/(1<<20), r.Expected(cfg.Window())/(1<<20),
			mib(r.BeyondPool()), r.Mallocs, r.Packets, r.WindowSegments, r.IdleMallocs)
		rep.Results = append(rep.Results, r)
	}
	if cfg.AllocTests {
		logf("running the pipeline's allocation tests")
		rep.AllocTests, rep.AllocTestsErr = allocTests(ctx, cfg.Root)
	}
	rep.End()
	return rep, nil
}

// poolFor sizes `memory` for n channels of mbps: the window once and a
// half (segments end in partly filled chunks, and the segment being
// written), plus 32 MiB, in whole MiB.
func poolFor(n int, mbps float64, window time.Duration) int64 {
	m := int64(float64(n)*mbps*1e6/8*window.Seconds()*1.5) + 32<<20
	return (m + 1<<20 - 1) &^ (1<<20 - 1)
}

func measureBase(ctx context.Context, cfg Config, bin, scratch string) (Result, error) {
	r := Result{Pool: poolFor(0, 0, 0)}
	dir, err := os.MkdirTemp(scratch, "base-")
	if err != nil {
		return r, fmt.Errorf("memory: %w", err)
	}
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, CPUs: strconv.Itoa(cfg.ReceiverCPU), Memory: r.Pool})
	if err != nil {
		return r, err
	}
	defer d.Stop()
	time.Sleep(cfg.Idle)
	if r.Mem, err = proc.ProcessMemory(d.PID()); err != nil {
		return r, err
	}
	r.Idle = r.Mem
	m, err := d.Metrics(ctx)
	if err != nil {
		return r, err
	}
	r.Pool = int64(m.Sum("slabcast_pool_bytes")) // whole chunks of what was asked
	r.PoolFree = int64(m.Sum("slabcast_pool_free_bytes"))
	r.HeapInuse = m.Sum("go_memstats_heap_inuse_bytes")
	return r, nil
}

func measureCase(ctx context.Context, cfg Config, c Case, buf *feed.Buffer, bin, scratch string) (Result, error) {
	r := Result{Case: c, Mbps: buf.Clip().Bitrate() / 1e6}
	r.Pool = poolFor(c.N, r.Mbps, cfg.Window())
	dir, err := os.MkdirTemp(scratch, "case-")
	if err != nil {
		return r, fmt.Errorf("memory: %w", err)
	}
	groups := sender.Groups(c.N)
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: dir, CPUs: strconv.Itoa(cfg.ReceiverCPU), Memory: r.Pool,
		Streams: daemon.Channels(groups), SegmentDuration: cfg.SegmentDuration, SegmentCount: cfg.SegmentCount})
	if err != nil {
		return r, err
	}
	defer d.Stop()
	snd, err := sender.New(groups, cfg.SenderCPU, buf)
	if err != nil {
		return r, fmt.Errorf("memory: %w", err)
	}
	defer snd.Close()

	// The window without traffic.
	m0, err := d.Metrics(ctx)
	if err != nil {
		return r, err
	}
	time.Sleep(cfg.Idle)
	m1, err := d.Metrics(ctx)
	if err != nil {
		return r, err
	}
	r.IdleMallocs = uint64(m1.Sum("go_memstats_mallocs_total") - m0.Sum("go_memstats_mallocs_total"))
	if r.Idle, err = proc.ProcessMemory(d.PID()); err != nil {
		return r, err
	}

	// Fill every window (plus a segment either side and a second for the
	// first keyframe), then the window with traffic.
	r.Fill = cfg.Window() + 2*cfg.SegmentDuration + time.Second
	perGroup := buf.Clip().Bitrate() / (feed.DatagramSize * 8)
	type out struct {
		res sender.Result
		err error
	}
	sent := make(chan out, 1)
	go func() {
		res, err := snd.Run(ctx, perGroup, r.Fill+cfg.Idle+500*time.Millisecond)
		sent <- out{res, err}
	}()
	fail := func(err error) (Result, error) {
		<-sent
		return r, err
	}
	select {
	case <-time.After(r.Fill):
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	a, err := d.Metrics(ctx)
	if err != nil {
		return fail(err)
	}
	t0 := time.Now()
	time.Sleep(cfg.Idle)
	b, err := d.Metrics(ctx)
	if err != nil {
		return fail(err)
	}
	r.TrafficWindow = time.Since(t0)
	o := <-sent
	if o.err != nil {
		return r, o.err
	}
	time.Sleep(300 * time.Millisecond) // the last datagrams in
	if r.Mem, err = proc.ProcessMemory(d.PID()); err != nil {
		return r, err
	}
	e, err := d.Metrics(ctx)
	if err != nil {
		return r, err
	}
	r.Mallocs = uint64(b.Sum("go_memstats_mallocs_total") - a.Sum("go_memstats_mallocs_total"))
	r.Datagrams = uint64(b.Sum("slabcast_input_datagrams_total") - a.Sum("slabcast_input_datagrams_total"))
	r.Packets = uint64(b.Sum("slabcast_input_packets_total") - a.Sum("slabcast_input_packets_total"))
	r.WindowSegments = int(b.Sum("slabcast_segments_total") - a.Sum("slabcast_segments_total"))
	if r.Packets == 0 {
		r.Packets = r.Datagrams * feed.DatagramSize / ts.PacketSize
	}
	r.Pool = int64(e.Sum("slabcast_pool_bytes")) // whole chunks of what was asked
	r.PoolFree = int64(e.Sum("slabcast_pool_free_bytes"))
	r.HeapInuse = e.Sum("go_memstats_heap_inuse_bytes")
	r.Segments = int(e.Sum("slabcast_segments_total"))
	r.KernelDrops = uint64(e.Sum("slabcast_input_kernel_drops_total"))
	if got := uint64(e.Sum("slabcast_input_datagrams_total")); got < o.res.Sent {
		r.Lost = o.res.Sent - got
	}
	return r, nil
}

// allocTests runs the pipeline's AllocsPerRun tests and returns their
// verbose output.
func allocTests(ctx context.Context, root string) (out, errText string) {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run",
		"^(TestIngestAllocations|TestWorkerReadAllocations)$", "./pipeline")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	var keep []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimRight(line, "\n"); strings.TrimSpace(line) != "" {
			keep = append(keep, line)
		}
	}
	if err != nil {
		return strings.Join(keep, "\n"), err.Error()
	}
	return strings.Join(keep, "\n"), ""
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
