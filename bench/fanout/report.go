package fanout

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchfmt"
	"github.com/slabcast/slabcast/bench/internal/clip"
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
	m, cfg := rep.Machine, rep.Config
	sc, _ := cpuList(cfg.ServerCPUs)
	cc, _ := cpuList(cfg.ClientCPUs)
	b.WriteString("# HTTP MPEG-TS fan-out\n\n")
	b.WriteString("Issue 5, item 4: K clients on one channel's `/NAME/mpegts`, slabcast's CPU per client-Gbit/s " +
		"delivered and the largest K with no client falling behind.\n\n")
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s\n", benchfmt.OrUnknown(m.CPUModel), m.CPUs, benchfmt.OrUnknown(m.Kernel))
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %s before, %s after; other work may share the machine\n",
		benchfmt.OrUnknown(m.Load), benchfmt.OrUnknown(rep.LoadAfter))
	fmt.Fprintf(&b, "- Run: %s, %s, took %s\n", rep.Start.UTC().Format("2006-01-02 15:04 MST"), rep.Go, rep.Took.Round(100*time.Millisecond))
	if rep.Command != "" {
		fmt.Fprintf(&b, "- Reproduce (as root, from the repository root): `%s`\n", rep.Command)
	}
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
	fmt.Fprintf(&b, "| K | attached | client Gbit/s | least client / input | behind | lagged | slabcast cores | CPU s per client-Gbit | above idle, per Gbit | clients' cores | CPU %s busy | CPU %s busy | no client behind |\n",
		benchfmt.OrUnknown(cfg.ServerCPUs), benchfmt.OrUnknown(cfg.ClientCPUs))
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
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
	const (
		width, height = 640, 420
		left, right   = 60, 70
		top, bottom   = 40, 50
	)
	maxK := 1.0
	maxC, maxG := 1.0, 0.0
	for _, s := range rep.Steps {
		maxK = max(maxK, float64(s.K))
		maxC = max(maxC, s.ServerCores(), s.ClientCores())
		maxG = max(maxG, s.Gbps())
	}
	maxK, maxC, maxG = niceCeil(maxK), niceCeil(maxC), niceCeil(max(maxG, 0.1))
	px := func(k float64) float64 { return left + k/maxK*(width-left-right) }
	py := func(v, top0 float64) float64 { return height - bottom - v/top0*(height-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">HTTP MPEG-TS fan-out: CPU and client Gbit/s against K clients (%.1f Mbit/s channel)</text>`+"\n",
		left, rep.Idle.InputBps()/1e6)
	for i := 0; i <= 5; i++ {
		k, c, g := maxK*float64(i)/5, maxC*float64(i)/5, maxG*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px(k), top, px(k), height-bottom)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, py(c, maxC), width-right, py(c, maxC))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", px(k), height-bottom+16, k)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.2g</text>`+"\n", left-6, py(c, maxC)+4, c)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="start" fill="#2ca02c">%.3g</text>`+"\n", width-right+6, py(g, maxG)+4, g)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, height-bottom, width-right, height-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, height-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", width-right, top, width-right, height-bottom)
	if float64(rep.GoProcs) <= maxC {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#999" stroke-dasharray="4 4"/>`+"\n",
			left, py(float64(rep.GoProcs), maxC), width-right, py(float64(rep.GoProcs), maxC))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#666">slabcast's cores</text>`+"\n", left+6, py(float64(rep.GoProcs), maxC)-4)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">K clients on one channel</text>`+"\n", (left+width-right)/2, height-12)
	fmt.Fprintf(&b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">CPU (cores)</text>`+"\n", (top+height-bottom)/2, (top+height-bottom)/2)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#2ca02c" transform="rotate(90 %d %d)">client Gbit/s</text>`+"\n",
		width-14, (top+height-bottom)/2, width-14, (top+height-bottom)/2)
	series := []struct {
		name, color string
		v           func(Step) float64
		top         float64
	}{
		{"slabcast CPU", "#1f77b4", Step.ServerCores, maxC},
		{"clients' CPU", "#d62728", Step.ClientCores, maxC},
		{"client Gbit/s", "#2ca02c", Step.Gbps, maxG},
	}
	for n, se := range series {
		var pts []string
		for _, s := range rep.Steps {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(s.K)), py(se.v(s), se.top)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", se.color, strings.Join(pts, " "))
		for _, s := range rep.Steps {
			fill := se.color
			if !s.OK() {
				fill = "white"
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="2"/>`+"\n",
				px(float64(s.K)), py(se.v(s), se.top), fill, se.color)
		}
		y := top + 14 + 18*n
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", left+14, y-4, left+34, y-4, se.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", left+40, y, se.name)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">filled: no client behind; hollow: a client behind</text>`+"\n", left+14, top+14+18*len(series))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
