package ingest

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/slabcast/slabcast/bench/internal/plot"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
	"github.com/slabcast/slabcast/ts"

	"github.com/slabcast/slabcast/pipeline"
)

// Goal is issue 5's target for slabcast's receive path: at least this share
// of the bare loop's rate, with zero loss and at saturation.
const Goal = 0.95

// ratio returns a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Ratios returns r's zero-loss and saturation rates as shares of the bare
// loop's; ok is false when the report has no bare loop, or when the bare
// loop kept everything the sender offered flat out: then the sender, not the
// receiver, set the rate, and a ratio of two sender-bound runs says nothing.
func (rep *Report) Ratios(r *Result) (zeroLoss, saturation float64, ok bool) {
	b := rep.Result(Bare)
	if b == nil || b.Saturation.Lost() == 0 {
		return 0, 0, false
	}
	if r.HaveBest && b.HaveBest {
		zeroLoss = ratio(r.Best.Offered(), b.Best.Offered())
	}
	if rep.Livelock() {
		return zeroLoss, math.NaN(), true
	}
	return zeroLoss, ratio(r.Saturation.Rate(), b.Saturation.Rate()), true
}

// Livelock reports whether the bare loop, flooded, kept less than its own
// rate without loss: the kernel's receive half took its core and left the
// loop almost nothing (a receive livelock). Rates received flat out then
// measure that, not the receivers, and no saturation ratio is given.
func (rep *Report) Livelock() bool {
	b := rep.Result(Bare)
	return b != nil && b.HaveBest && b.Saturation.Rate() < b.Best.Offered()
}

func gsoText(on bool) string {
	if on {
		return fmt.Sprintf("UDP GSO: up to %d datagrams a message, so flat out it outruns the receivers", sender.MaxGSO)
	}
	return "one datagram a message"
}

// WriteMarkdown writes the results file: the machine, the command, the
// table of figures and ratios, one line per goal, then every point.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	rep.Header(&b, "Ingest ceiling, one core", "Issue 5, item 1: the datagrams/s and Gbit/s that slabcast's receive path "+
		"sustains on one core with zero loss and at saturation, against a bare recvmmsg loop "+
		"that only discards, on the same socket setup and core.")
	fmt.Fprintf(&b, "\nSetup: a private network namespace; `%s` looped without a seam (%.0f kbit/s, %.2f s a pass; "+
		"PCR, PTS and DTS shifted a pass length and continuity counters carried on at every loop, so the "+
		"receive path does its full work: PSI, PES, keyframes, a segment cut every 2 s of media) in "+
		"datagrams of 7 × 188 = %d bytes to udp://%s on lo; the sender uses sendmmsg, %d messages a call (%s), "+
		"paced by a token bucket or flat out, on a thread pinned to CPU %d; each receiver runs on a thread "+
		"pinned to CPU %d with SO_RCVBUF %d MiB, recvmmsg 64 × 9024 bytes; receive packet steering to CPU %d: %v. %s a point; paced rates are "+
		"fractions %v of the first receiver's saturation rate, stepped up until loss (a rate that loses is measured once more and passes if that run is clean: other work shares this machine), then %d bisections.\n\n",
		cfg.Clip, rep.ClipBitrate/1e3, rep.ClipPass.Seconds(), DatagramSize, cfg.Group, sender.Batch, gsoText(cfg.GSO),
		cfg.SenderCPU, cfg.ReceiverCPU, cfg.RecvBuffer>>20, cfg.ReceiverCPU, report.OnOff(rep.Steered), cfg.Point, cfg.Steps, cfg.Refine)

	report.TableHead(&b, "lrrrrrrrrrrr", "receiver", "zero loss: datagrams/s", "Gbit/s", "× bare", "saturation: offered/s", "received/s",
		"Gbit/s", "lost", "× bare", fmt.Sprintf("CPU %d busy at zero loss", cfg.ReceiverCPU), "receiver thread", "thread ns/datagram")
	for i := range rep.Results {
		r := &rep.Results[i]
		zr, sr, haveBare := rep.Ratios(r)
		name := r.Receiver.String()
		if r.FilterMode != "" {
			name += " (" + r.FilterMode + ")"
		}
		best, gb, zx, busy, cpu, ns := "none", "–", "–", "–", "–", "–"
		if r.HaveBest {
			best = fmt.Sprintf("%.0f", r.Best.Offered())
			gb = fmt.Sprintf("%.2f", Gbps(r.Best.Offered()))
			if r.SenderBound() {
				best += " ≥"
			}
			busy = fmt.Sprintf("%.2f", r.Best.BusyShare())
			cpu = fmt.Sprintf("%.2f", r.Best.CPUShare())
			ns = fmt.Sprintf("%.0f", r.Best.NsPerDatagram())
			if haveBare {
				zx = fmt.Sprintf("%.2f", zr)
			}
		}
		sx := "–"
		if haveBare && !math.IsNaN(sr) {
			sx = fmt.Sprintf("%.2f", sr)
		}
		s := r.Saturation
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %.0f | %.2f | %d (%.1f%%) | %s | %s | %s | %s |\n",
			name, best, gb, zx, s.Offered(), s.Rate(), Gbps(s.Rate()), s.Lost(),
			100*ratio(float64(s.Lost()), float64(s.Sent)), sx, busy, cpu, ns)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Zero loss: the highest rate sent at which every datagram was received (sent = received, "+
		"counted exactly, no kernel drop); `≥`: no loss even with the sender flat out, so the ceiling is "+
		"above what this sender offers. Saturation: the sender flat out. Gbit/s is UDP payload. "+
		"CPU %d busy: the share of the core's time not idle (/proc/stat: user, system, irq, softirq; the "+
		"kernel's receive work included, and anything else the machine ran there). Receiver thread: "+
		"user+system time of the thread pinned to CPU %d (/proc/self/task/*/stat, 10 ms resolution) "+
		"per second, from the start of sending until the queue was drained; ns/datagram is that time "+
		"per datagram received.\n\n", cfg.ReceiverCPU, cfg.ReceiverCPU)

	b.WriteString("## Goals\n\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Receiver == Bare {
			continue
		}
		zr, sr, ok := rep.Ratios(r)
		if !ok {
			why := "no bare loop measured"
			if bare := rep.Result(Bare); bare != nil {
				why = "the bare loop kept all the sender offered flat out: the sender set the rate, not the receiver"
			}
			fmt.Fprintf(&b, "- %v: %s; no ratio (not met)\n", r.Receiver, why)
			continue
		}
		if math.IsNaN(sr) {
			fmt.Fprintf(&b, "- %v: at least %.2f of the bare loop — zero loss %.2f (%s); saturation: no ratio, "+
				"the bare loop itself collapsed flat out (receive livelock, see Caveats) (not met)\n",
				r.Receiver, Goal, zr, report.Met(r.HaveBest && zr >= Goal))
			continue
		}
		fmt.Fprintf(&b, "- %v: at least %.2f of the bare loop — zero loss %.2f (%s), saturation %.2f (%s)\n",
			r.Receiver, Goal, zr, report.Met(r.HaveBest && zr >= Goal), sr, report.Met(sr >= Goal))
	}
	b.WriteString("\n")

	b.WriteString("## Caveats\n\n")
	short, paced := 0, 0
	for _, r := range rep.Results {
		for _, p := range r.Points {
			paced++
			if p.Offered() < 0.9*p.Target {
				short++
			}
		}
	}
	if short > 0 {
		fmt.Fprintf(&b, "- The sender fell more than 10%% short of its paced target on %d of %d points: "+
			"the machine was busy with other work during the run, and those points measure it as much as the receivers.\n", short, paced)
	}
	if rep.Steered {
		fmt.Fprintf(&b, "- lo hands every datagram to the kernel's receive path inside the sender's sendmmsg; "+
			"receive packet steering on the namespace's lo (rps_cpus) moves that half (IP, UDP, the socket "+
			"filter, queueing) to CPU %d, as a NIC interrupt affined to the receiver's core would, so the whole "+
			"receive path is on one core. Most of that core's time goes to the kernel's half, which the bare "+
			"loop pays too.\n", cfg.ReceiverCPU)
	} else {
		b.WriteString("- Without receive packet steering, lo runs the kernel's receive half (IP, UDP, the socket " +
			"filter, queueing) in the sender's sendmmsg call, on the sender's core; the receiver's core does " +
			"recvmmsg and what the receiver does with the data. The filter's cost then shows in the rate " +
			"the sender reaches flat out, not on the receiver's core.\n")
	}
	b.WriteString("- The machine is a shared VM: other work on the receiver's core shows as loss and as busy time, " +
		"and rates move by several percent from run to run: repeat the run before reading a small difference between receivers into it.\n")
	if rep.Livelock() {
		fmt.Fprintf(&b, "- Flat out the sender outruns every receiver, and the kernel's receive half (on CPU %d with steering) "+
			"takes that core: even the bare loop keeps almost nothing (a receive livelock, which a NIC's interrupt "+
			"moderation and NAPI budget would soften). The zero-loss rates are the figures to compare; "+
			"the flat-out rows show the collapse.\n", cfg.ReceiverCPU)
	}
	if !cfg.GSO {
		b.WriteString("- Without UDP GSO the sender, one datagram a message, reaches only about 180k to 280k datagrams/s flat out: " +
			"below what the receivers take, so saturation then measures the sender.\n")
	}
	fmt.Fprintf(&b, "- The clip is %.0f kbit/s, so at these rates a 2 s segment is cut every ~%.0f datagrams, "+
		"far more often than a real channel of 4–15 Mbit/s would; the per-segment work weighs more here than it will there.\n",
		rep.ClipBitrate/1e3, 2*rep.ClipBitrate/8/DatagramSize)
	b.WriteString("\n")

	for i := range rep.Results {
		r := &rep.Results[i]
		if !r.HaveStats {
			continue
		}
		st := r.Stats
		fmt.Fprintf(&b, "%v, pipeline counters at the end: %d datagrams, %d segments, %d kernel drops, "+
			"%d refused by the filter, %d bad datagrams, %d packets dropped for lack of slab memory, "+
			"%d TS packets lost by continuity (%s %d).\n\n",
			r.Receiver, st.Count[pipeline.Datagrams], st.Count[pipeline.Segments], st.Count[pipeline.KernelDrops], st.Count[pipeline.FilteredSize]+st.Count[pipeline.FilteredSync]+st.Count[pipeline.FilteredRTP],
			st.Count[pipeline.BadDatagrams], st.Count[pipeline.Dropped], st.Count[pipeline.TSLost], ts.ContinuityCountError, st.TS[ts.ContinuityCountError])
	}

	b.WriteString("## Every point\n\n")
	report.TableHead(&b, "lrrrrrrrr", "receiver", "target/s", "sent/s", "received/s", "lost", "socket drops", "backlog drops",
		fmt.Sprintf("CPU %d busy", cfg.ReceiverCPU), "receiver thread")
	for i := range rep.Results {
		r := &rep.Results[i]
		for _, p := range append([]Point{r.Saturation}, r.Points...) {
			target := "flat out"
			if p.Target > 0 {
				target = fmt.Sprintf("%.0f", p.Target)
			}
			fmt.Fprintf(&b, "| %v | %s | %.0f | %.0f | %d | %d | %d | %.2f | %.2f |\n",
				r.Receiver, target, p.Offered(), p.Rate(), p.Lost(), p.Drops, p.BacklogDrops, p.BusyShare(), p.CPUShare())
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSVG writes a plot of the rate received against the rate offered,
// one line per receiver, every point measured (saturation included).
func (rep *Report) WriteSVG(w io.Writer) error {
	colors := []string{"#444444", "#1f77b4", "#d62728", "#2ca02c"}
	var maxX float64
	for _, r := range rep.Results {
		for _, p := range append([]Point{r.Saturation}, r.Points...) {
			maxX = max(maxX, p.Offered(), p.Rate())
		}
	}
	maxX = plot.NiceCeil(max(maxX, 1))
	pl := plot.Plot{Title: "Ingest on one core: received vs offered (datagrams/s, 1316 B each)",
		X:        plot.Axis{Label: "offered (sent) per second", Max: maxX, Tick: kilo},
		Y:        plot.Axis{Label: "received per second", Max: maxX, Tick: kilo},
		Diagonal: true, Note: "filled: no loss; hollow: loss"}
	for i, r := range rep.Results {
		pts := append([]Point{r.Saturation}, r.Points...)
		slices.SortFunc(pts, func(a, b Point) int { return cmp.Compare(a.Offered(), b.Offered()) })
		s := plot.Series{Name: r.Receiver.String(), Color: colors[i%len(colors)]}
		for _, p := range pts {
			s.Points = append(s.Points, plot.Point{X: p.Offered(), Y: p.Rate(), Hollow: !p.ZeroLoss()})
		}
		pl.Series = append(pl.Series, s)
	}
	return pl.WriteSVG(w)
}

func kilo(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
