package fanout

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/plot"
	"github.com/slabcast/slabcast/bench/internal/report"
)

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// busyShare is a busy time per second of the window per core.
func busyShare(d, w time.Duration, cores int) float64 {
	if w <= 0 || cores == 0 {
		return 0
	}
	return d.Seconds() / w.Seconds() / float64(cores)
}

// WriteMarkdown writes the results file: the machine, the command, the
// table of steps, the goal lines, the caveats.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	sc, _ := cpuList(cfg.ServerCPUs)
	cc, _ := cpuList(cfg.ClientCPUs)
	rep.Header(&b, "HTTP MPEG-TS fan-out", "Issue 5, item 4: K clients on one channel's `/NAME/mpegts`, slabcast's CPU per client-Gbit/s "+
		"delivered and the largest K with no client falling behind.")
	pin := "unpinned"
	if cfg.ServerCPUs != "" {
		pin = fmt.Sprintf("slabcast pinned with taskset to CPU %s (config `cpus %s;`, Go runtime on %d core(s)); "+
			"the clients (every thread of the benchmark process) and the feeder to CPU %s", cfg.ServerCPUs, cfg.ServerCPUs, rep.GoProcs, cfg.ClientCPUs)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace. slabcast (`go build ./cmd/slabcast`) runs as a child "+
		"process with one stream fed over multicast on lo by `slabcast feed --loop` with a clip encoded on "+
		"the fly (%s; %.2f Mbit/s measured at slabcast's input). %s. Each client is a goroutine of the "+
		"benchmark process with its own TCP connection, reading `/%s/mpegts` with %d KiB reads as fast as "+
		"it comes. K is stepped up; the clients of earlier steps stay connected. Each step waits %s after "+
		"its clients are connected, then measures over %s: slabcast's user+system time (/proc/PID/stat, its "+
		"ingest included), the clients', and the bytes every client received against the stream's input "+
		"(`slabcast_input_bytes_total`). A client falls behind if it received less than the input minus "+
		"%s of media over the window, or its connection ended; a step also fails if "+
		"`slabcast_mpegts_lagged_total` rose. %s\n\n",
		clip.FeedRecipe, rep.Idle.InputBps()/1e6, pin, streamName, readBuffer>>10, cfg.Warm, cfg.Window, cfg.Lag,
		map[bool]string{true: "Every step is measured.", false: "The run stops after the first step that fails."}[cfg.KeepGoing])

	base := rep.Idle.ServerCores()
	report.TableHead(&b, "rrrrrrrrrrrrl", "K", "attached", "client Gbit/s", "least client / input", "behind", "lagged", "slabcast cores",
		"CPU s per client-Gbit", "above idle, per Gbit", "clients' cores", "CPU "+report.OrUnknown(cfg.ServerCPUs)+" busy",
		"CPU "+report.OrUnknown(cfg.ClientCPUs)+" busy", "no client behind")
	i := rep.Idle
	fmt.Fprintf(&b, "| 0 | %d | 0 | – | 0 | %d | %.3f | – | – | %.2f | %.2f | %.2f | idle: ingest alone |\n",
		i.Attached, i.Lagged, i.ServerCores(), i.ClientCores(), busyShare(i.ServerBusy, i.Window, len(sc)), busyShare(i.ClientBusy, i.Window, len(cc)))
	for _, s := range rep.Steps {
		fmt.Fprintf(&b, "| %d | %d | %.3f | %.2f | %d | %d | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f | %s |\n",
			s.K, s.Attached, s.Gbps(), s.MinShare(), s.Behind, s.Lagged, s.ServerCores(), s.CoresPerGbps(base, false),
			s.CoresPerGbps(base, true), s.ClientCores(), busyShare(s.ServerBusy, s.Window, len(sc)),
			busyShare(s.ClientBusy, s.Window, len(cc)), yesNo(s.OK()))
	}
	b.WriteString("\nClient Gbit/s: bytes all clients received over the window. CPU s per client-Gbit: slabcast's " +
		"CPU seconds per second divided by client Gbit/s (= cores per Gbit/s); above idle takes off slabcast's " +
		"CPU with no client (its ingest). Core busy: the pinned core's time not idle (/proc/stat), the kernel's " +
		"loopback TCP work included; the clients' core also runs the feeder.\n\n")

	b.WriteString("## Goals\n\n")
	k, ok := rep.Largest()
	var last Step
	if len(rep.Steps) > 0 {
		last = rep.Steps[len(rep.Steps)-1]
	}
	switch {
	case len(rep.Steps) == 0:
		b.WriteString("- Largest K with no client behind: no step measured\n")
	case !ok:
		fmt.Fprintf(&b, "- Largest K with no client behind: none (K=%d already fails)%s\n", rep.Steps[0].K, rep.bound(rep.Steps[0]))
	case last.OK():
		fmt.Fprintf(&b, "- Largest K with no client behind: at least %d (the largest step measured, %.2f Gbit/s to clients)\n", k, last.Gbps())
	default:
		fail := rep.Steps[0]
		for _, s := range rep.Steps {
			if !s.OK() {
				fail = s
				break
			}
		}
		fmt.Fprintf(&b, "- Largest K with no client behind: %d; K=%d fails%s\n", k, fail.K, rep.bound(fail))
	}
	if best := rep.best(); best != nil {
		fmt.Fprintf(&b, "- slabcast CPU per client-Gbit/s: %.3f cores per Gbit/s at K=%d (%.3f above idle); "+
			"issue 5 sets no number for it and names no baseline: this run is the reference later runs compare with\n",
			best.CoresPerGbps(base, false), best.K, best.CoresPerGbps(base, true))
	}
	b.WriteString("\n## Caveats\n\n")
	b.WriteString("- Two cores: the clients share one with the feeder and the kernel's receive work, so a " +
		"step can fail because the clients' core is full rather than slabcast's; the core-busy columns say which.\n")
	b.WriteString("- CPU times have 10 ms resolution: at small K slabcast's figure over the window is a " +
		"handful of ticks, and per-Gbit figures at K=1 are dominated by the ingest.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// best is the passing step with the most client Gbit/s.
func (rep *Report) best() *Step {
	var best *Step
	for i := range rep.Steps {
		s := &rep.Steps[i]
		if s.OK() && (best == nil || s.Gbps() > best.Gbps()) {
			best = s
		}
	}
	return best
}

// bound says which core was full at a failing step.
func (rep *Report) bound(s Step) string {
	sc, _ := cpuList(rep.Config.ServerCPUs)
	cc, _ := cpuList(rep.Config.ClientCPUs)
	sb, cb := busyShare(s.ServerBusy, s.Window, len(sc)), busyShare(s.ClientBusy, s.Window, len(cc))
	why := fmt.Sprintf(" (%d behind, %d dead, lagged +%d, least client %.2f of input)", s.Behind, s.Dead, s.Lagged, s.MinShare())
	switch {
	case s.ServerCores() >= 0.9*float64(rep.GoProcs) || sb >= 0.95:
		return why + fmt.Sprintf(": slabcast's core was full (process %.2f cores, core busy %.2f)", s.ServerCores(), sb)
	case cb >= 0.95:
		return why + fmt.Sprintf(": the clients' core was full (%.2f) while slabcast's was not (%.2f): bounded by the load generator", cb, sb)
	}
	return why + fmt.Sprintf(": neither core was full (slabcast %.2f, clients %.2f)", sb, cb)
}

// WriteSVG plots slabcast's and the clients' CPU (cores) against K, with
// the client Gbit/s on a second axis; hollow marks are failing steps.
func (rep *Report) WriteSVG(w io.Writer) error {
	maxK, maxC, maxG := 1.0, 1.0, 0.0
	for _, s := range rep.Steps {
		maxK = max(maxK, float64(s.K))
		maxC = max(maxC, s.ServerCores(), s.ClientCores())
		maxG = max(maxG, s.Gbps())
	}
	pl := plot.Plot{Title: fmt.Sprintf("HTTP MPEG-TS fan-out: CPU and client Gbit/s against K clients (%.1f Mbit/s channel)", rep.Idle.InputBps()/1e6),
		Left: 60, Right: 70, Top: 40,
		X:     plot.Axis{Label: "K clients on one channel", Max: plot.NiceCeil(maxK), Tick: func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		Y:     plot.Axis{Label: "CPU (cores)", Max: plot.NiceCeil(maxC), Tick: func(v float64) string { return fmt.Sprintf("%.2g", v) }},
		Y2:    &plot.Axis{Label: "client Gbit/s", Max: plot.NiceCeil(max(maxG, 0.1)), Tick: func(v float64) string { return fmt.Sprintf("%.3g", v) }, Color: "#2ca02c"},
		Guide: &plot.Guide{Y: float64(rep.GoProcs), Label: "slabcast's cores"},
		Note:  "filled: no client behind; hollow: a client behind"}
	for _, se := range []struct {
		name, color string
		v           func(Step) float64
		right       bool
	}{
		{"slabcast CPU", "#1f77b4", Step.ServerCores, false},
		{"clients' CPU", "#d62728", Step.ClientCores, false},
		{"client Gbit/s", "#2ca02c", Step.Gbps, true},
	} {
		ps := plot.Series{Name: se.name, Color: se.color, Right: se.right}
		for _, s := range rep.Steps {
			ps.Points = append(ps.Points, plot.Point{X: float64(s.K), Y: se.v(s), Hollow: !s.OK()})
		}
		pl.Series = append(pl.Series, ps)
	}
	return pl.WriteSVG(w)
}
