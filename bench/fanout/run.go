package fanout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/nic"
)

const streamName = "ch"

// Tools returns an error wrapping ErrMissingTool naming the first tool a
// Run needs that is not installed.
func Tools(cfg Config) error {
	return daemon.Tools(cfg.ServerCPUs != "" || cfg.ClientCPUs != "", cfg.Bin == "", "ffmpeg")
}

func cpuList(list string) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	c, err := nic.ParseCPUList(list)
	if err != nil {
		return nil, fmt.Errorf("fanout: cpu list %q: %w", list, err)
	}
	return c, nil
}

// Run measures every step of cfg. It must run in a private network
// namespace (see the package doc). ctx bounds it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Window <= 0 || len(cfg.Steps) == 0 || !slices.IsSorted(cfg.Steps) || cfg.Steps[0] <= 0 {
		return nil, errors.New("fanout: config needs Window and ascending positive Steps")
	}
	if err := Tools(cfg); err != nil {
		return nil, err
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	serverCPUs, err := cpuList(cfg.ServerCPUs)
	if err != nil {
		return nil, err
	}
	clientCPUs, err := cpuList(cfg.ClientCPUs)
	if err != nil {
		return nil, err
	}
	rep := &Report{Run: report.Begin(), Config: cfg,
		GoProcs: len(serverCPUs)}
	if rep.GoProcs == 0 {
		rep.GoProcs = rep.Machine.CPUs
	}

	work, err := os.MkdirTemp("", "slabbench-fanout-")
	if err != nil {
		return nil, fmt.Errorf("fanout: %w", err)
	}
	defer os.RemoveAll(work)
	bin, err := daemon.Binary(ctx, cfg.Bin, cfg.Root, work, logf)
	if err != nil {
		return nil, err
	}
	logf("encoding a %.1f Mbit/s clip with ffmpeg", cfg.Bitrate/1e6)
	feedClip, err := clip.Feed(ctx, work, cfg.Bitrate)
	if err != nil {
		return nil, err
	}
	d, err := daemon.Start(ctx, daemon.Options{Bin: bin, Dir: work,
		Streams: []daemon.Stream{{Name: streamName, Input: "udp://" + cfg.Group, Feed: feedClip}},
		CPUs:    cfg.ServerCPUs, FeedCPUs: cfg.ClientCPUs})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	if _, err := d.WaitSegments(ctx, streamName, 1, 30*time.Second); err != nil {
		return nil, err
	}
	logf("slabcast pid %d on %s, stream /%s/mpegts", d.PID(), d.Base(), streamName)

	if len(clientCPUs) > 0 {
		restore, err := proc.Confine(clientCPUs...)
		if err != nil {
			return nil, err
		}
		defer restore()
		n := runtime.GOMAXPROCS(len(clientCPUs))
		defer runtime.GOMAXPROCS(n)
	}
	cs := &clients{addr: d.Addr(), path: "/" + streamName + "/mpegts"}
	defer cs.close()
	m := &meter{cfg: cfg, d: d, cs: cs, serverCPUs: serverCPUs, clientCPUs: clientCPUs}

	if err := sleep(ctx, cfg.Warm); err != nil {
		return nil, err
	}
	if rep.Idle, err = m.window(ctx, 0); err != nil {
		return nil, err
	}
	logf("K=%-5d slabcast %.3f cores (ingest alone), input %.2f Mbit/s", 0, rep.Idle.ServerCores(), rep.Idle.InputBps()/1e6)
	for _, k := range cfg.Steps {
		// Clients that cannot connect count as fallen behind.
		if err := cs.grow(ctx, k); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			logf("K=%d: not every client connected: %v", k, err)
		}
		if err := sleep(ctx, cfg.Warm); err != nil {
			return nil, err
		}
		s, err := m.window(ctx, k)
		if err != nil {
			return nil, err
		}
		rep.Steps = append(rep.Steps, s)
		logf("K=%-5d attached %-5d %6.2f Gbit/s slabcast %.2f cores (%.3f per Gbit/s) clients %.2f cores, least client %.2f of input, behind %d, dead %d, lagged %d",
			k, s.Attached, s.Gbps(), s.ServerCores(), s.CoresPerGbps(0, false), s.ClientCores(), s.MinShare(), s.Behind, s.Dead, s.Lagged)
		if !s.OK() && !cfg.KeepGoing {
			break
		}
	}
	rep.End()
	return rep, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// meter measures windows.
type meter struct {
	cfg                    Config
	d                      *daemon.Daemon
	cs                     *clients
	serverCPUs, clientCPUs []int
	a, b                   []sample
}

// point is everything read at one edge of a window.
type point struct {
	at                   time.Time
	input, lagged        float64
	attached             float64
	server, self         time.Duration
	serverBusy, selfBusy time.Duration
}

func (m *meter) read(ctx context.Context, dst []sample) (point, []sample, error) {
	var p point
	met, err := m.d.Metrics(ctx)
	if err != nil {
		return p, dst, err
	}
	p.at = time.Now()
	dst = m.cs.samples(dst)
	if p.server, err = proc.ProcessCPU(m.d.PID()); err != nil {
		return p, dst, err
	}
	if p.self, err = proc.ProcessCPU(os.Getpid()); err != nil {
		return p, dst, err
	}
	p.serverBusy, p.selfBusy = proc.CoresBusy(m.serverCPUs), proc.CoresBusy(m.clientCPUs)
	var ok bool
	if p.input, ok = met[`slabcast_input_bytes_total{stream="`+streamName+`"}`]; !ok {
		return p, dst, errors.New("fanout: /metrics has no slabcast_input_bytes_total for the stream")
	}
	p.lagged = met["slabcast_mpegts_lagged_total"]
	p.attached = met[`slabcast_mpegts_clients{stream="`+streamName+`"}`]
	return p, dst, nil
}

// window measures one step of k clients over cfg.Window.
func (m *meter) window(ctx context.Context, k int) (Step, error) {
	s := Step{K: k}
	p0, a, err := m.read(ctx, m.a)
	m.a = a
	if err != nil {
		return s, err
	}
	if err := sleep(ctx, m.cfg.Window); err != nil {
		return s, err
	}
	p1, b, err := m.read(ctx, m.b)
	m.b = b
	if err != nil {
		return s, err
	}
	s.Window = p1.at.Sub(p0.at)
	s.InputBytes = uint64(max(0, p1.input-p0.input))
	s.Lagged = uint64(max(0, p1.lagged-p0.lagged))
	s.Attached = int(p1.attached)
	s.ServerCPU, s.ClientCPU = p1.server-p0.server, p1.self-p0.self
	s.ServerBusy, s.ClientBusy = p1.serverBusy-p0.serverBusy, p1.selfBusy-p0.selfBusy
	// A client may lag the input by Lag of media at the input's own rate.
	allowed := float64(s.InputBytes) / s.Window.Seconds() * m.cfg.Lag.Seconds()
	s.MinClient = math.MaxUint64
	for i := range min(len(a), len(b)) {
		got := b[i].bytes - a[i].bytes
		s.ClientBytes += got
		s.MinClient = min(s.MinClient, got)
		switch {
		case b[i].dead:
			s.Dead++
			s.Behind++
		case float64(got) < float64(s.InputBytes)-allowed:
			s.Behind++
		}
	}
	if len(b) < k {
		s.Behind += k - len(b)
	}
	if len(b) == 0 {
		s.MinClient = 0
	}
	return s, nil
}
