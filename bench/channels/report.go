package channels

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/plot"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/bench/internal/sender"
)

// NsPerDatagram is the headend's CPU time per datagram sent.
func (p Point) NsPerDatagram() float64 {
	if p.Sent == 0 {
		return 0
	}
	return float64(p.CPU.Nanoseconds()) / float64(p.Sent)
}

// goalGbpsPoint returns slabcast's zero-loss point with the highest
// aggregate rate sent, over every rate; ok is false when none is clean.
func (rep *Report) goalGbpsPoint() (best Point, ok bool) {
	for _, s := range rep.Series {
		if s.System != Slabcast {
			continue
		}
		for _, p := range s.Points {
			if p.ZeroLoss() && (!ok || p.Offered() > best.Offered()) {
				best, ok = p, true
			}
		}
	}
	return best, ok
}

// firstLoss returns the first point of s that lost at a channel count no
// try of which was clean (a rung that passed on its retry did not lose).
func (s *Series) firstLoss() (Point, bool) {
	for _, p := range s.Points {
		if !p.ZeroLoss() && !s.lastAt(p.N).ZeroLoss() {
			return p, true
		}
	}
	return Point{}, false
}

// WriteMarkdown writes the results file: the machine, the command, the
// summary with ratios, one line per goal, then every point.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	rep.Header(&b, "Channels per core", "Issue 5, item 2: N multicast channels of R Mbit/s each on one core, N stepped up until loss; "+
		"the CPU time per channel and the largest N with zero loss, for slabcast against ffmpeg `-c copy -f hls` "+
		"(one process per channel, segments on tmpfs), the do-it-yourself headend.", rep.FFmpegVer)
	b.WriteString("\nSetup: a private network namespace; one sender thread pinned to CPU ")
	layout := "239.10.x.y, one port each: a socket per channel for both headends"
	if cfg.OnePort {
		layout = fmt.Sprintf("239.10.x.y, all on port %d, the usual IPTV layout: slabcast's streams share a socket for "+
			"every %s groups, the most the kernel lets one socket join (net.ipv4.igmp_max_memberships, left at its default); "+
			"each ffmpeg binds its own group", groupPort, rep.GroupLimit)
	}
	fmt.Fprintf(&b, "%d drives all N groups (%s) from one socket with sendmmsg, %d datagrams "+
		"of 7 × 188 bytes a call, paced by a token bucket so that each channel gets its clip's own rate; the clips "+
		"(testsrc2 720p25 in H.264 CBR with filler, a keyframe a second, AAC; %d s, looped without a seam) are "+
		"sent in lockstep. The headend runs on CPU %d: slabcast as one daemon with `cpus %d;` under "+
		"`taskset -c %d` (every thread of it on that core), one stream per channel, %s segments, the default "+
		"window, `memory` sized for the point (column pool); ffmpeg as one `ffmpeg -c copy -f hls` per channel "+
		"under `taskset -c %d`, reading `udp://GROUP:PORT` and writing %s segments and a playlist to /dev/shm. "+
		"Receive packet steering on lo to CPU %d: %v, so the kernel's receive half runs on the headend's core. "+
		"Points whose aggregate target exceeds %.1f Gbit/s are sent %d datagrams of a group at a time with UDP GSO "+
		"(sent column: GSO ×%d), so that the sender's one core outruns the headend there (the kernel cuts them apart "+
		"in the receive half, on the headend's core, for both headends alike). "+
		"Each point: start the headend, send until every channel takes data in, let it drain, then send %s and "+
		"let it drain again; CPU is utime+stime from /proc/PID/stat (summed over the ffmpeg processes) over "+
		"that window, sending and draining.\n\n",
		cfg.SenderCPU, layout, sender.Batch, clip.ChannelSeconds, cfg.ReceiverCPU, cfg.ReceiverCPU, cfg.ReceiverCPU,
		cfg.SegmentDuration, cfg.ReceiverCPU, cfg.SegmentDuration, cfg.ReceiverCPU, report.OnOff(rep.Steered),
		cfg.BurstAbove, cfg.Burst, cfg.Burst, cfg.Point)

	report.TableHead(&b, "rrrrrrrrrrrrrrr", "R, Mbit/s", "slabcast: most channels, no loss", "Gbit/s", "first loss at",
		"ffmpeg: most channels, no loss", "Gbit/s", "first loss at", "× ffmpeg channels", "compared at N", "slabcast CPU a channel",
		"ffmpeg CPU a channel", "ffmpeg ÷ slabcast CPU", "slabcast core busy a channel", "ffmpeg core busy a channel", "ffmpeg ÷ slabcast core")
	cmps := rep.Comparisons()
	for _, r := range cfg.Rates {
		s, f := rep.Find(Slabcast, r.Mbps), rep.Find(FFmpeg, r.Mbps)
		if s == nil {
			continue
		}
		sb, sg, sl := bestCells(s)
		fb, fg, fl, xch, atN, sc, fc, ratio := "–", "–", "–", "–", "–", "–", "–", "–"
		sbusy, fbusy, bratio := "–", "–", "–"
		if f != nil {
			fb, fg, fl = bestCells(f)
			if s.HaveBest && f.HaveBest {
				xch = fmt.Sprintf("%.2f", float64(s.Best.N)/float64(f.Best.N))
				if !s.Lost {
					xch = "≥ " + xch
				}
			}
		}
		for _, c := range cmps {
			if c.Mbps == s.Mbps && c.HaveN {
				atN = fmt.Sprint(c.N)
				sc, fc, ratio = pct(c.Slabcast), pct(c.FFmpeg), fmt.Sprintf("%.2f", c.Ratio)
				sbusy, fbusy, bratio = pct(c.SlabcastBusy), pct(c.FFmpegBusy), fmt.Sprintf("%.2f", c.BusyRatio)
			}
		}
		if f == nil && s.HaveBest {
			sc = pct(s.Best.PerChannel())
		}
		fmt.Fprintf(&b, "| %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Mbps, sb, sg, sl, fb, fg, fl, xch, atN, sc, fc, ratio, sbusy, fbusy, bratio)
	}
	b.WriteString("\nMost channels: the largest N tried with zero loss (`≥`: the ladder ended without a loss, " +
		"so the limit is higher; `not reached`: the time budget ran out first). CPU a channel: the headend's " +
		"CPU-seconds per channel per second of stream (utime+stime of its processes), in % of one core, at the largest " +
		"N both ran without loss; core busy a channel: the same for everything the headend's core did (/proc/stat), the " +
		"kernel's receive work included. R is each clip's real rate (UDP payload).\n\n")

	b.WriteString("## Goals\n\n")
	for _, c := range cmps {
		if !c.HaveN {
			fmt.Fprintf(&b, "- At least %.0f× fewer CPU-seconds per channel than ffmpeg at %.1f Mbit/s: no channel count where both ran without loss, no ratio (not met)\n", GoalRatio, c.Mbps)
			continue
		}
		line := fmt.Sprintf("- At least %.0f× fewer CPU-seconds per channel than ffmpeg at %.1f Mbit/s: %.2f× at N = %d (%.2f× counting the core's whole busy time) (%s)",
			GoalRatio, c.Mbps, c.Ratio, c.N, c.BusyRatio, report.Met(c.Ratio >= GoalRatio))
		if c.Ratio < GoalRatio {
			if sp := rep.pointAt(Slabcast, c.Mbps, c.N); sp != nil {
				fp := rep.pointAt(FFmpeg, c.Mbps, c.N)
				line += fmt.Sprintf("; slabcast spends %.1f µs of CPU per datagram (%.0f datagrams/s a channel), "+
					"ffmpeg %.1f µs: %.0f× would leave slabcast %.1f µs a datagram",
					sp.NsPerDatagram()/1e3, sp.Mbps*1e6/8/1316, fp.NsPerDatagram()/1e3, GoalRatio, fp.NsPerDatagram()/1e3/GoalRatio)
				line += rep.bareBound(c.Mbps, c.N, fp.PerChannel())
			}
		}
		b.WriteString(line + "\n")
	}
	if len(cmps) == 0 {
		fmt.Fprintf(&b, "- At least %.0f× fewer CPU-seconds per channel than ffmpeg: ffmpeg not measured (%s)\n", GoalRatio, rep.FFmpegSkipped)
	}
	for _, n := range GoalNs {
		b.WriteString(rep.goalAtLine(n) + "\n")
	}
	b.WriteString(rep.goalManyLine() + "\n")
	if bp, ok := rep.goalGbpsPoint(); ok {
		reach := bp.Offered() >= 0.98*GoalGbps && bp.Target() >= GoalGbps*0.995
		line := fmt.Sprintf("- No loss at %.0f Gbit/s aggregate on one core: slabcast took %d × %.2f Mbit/s = %.2f Gbit/s without loss (%s)",
			GoalGbps, bp.N, bp.Mbps, bp.Offered(), report.Met(reach))
		for _, s := range rep.Series {
			if s.System != Slabcast {
				continue
			}
			if lp, lost := s.firstLoss(); lost {
				line += fmt.Sprintf("; at %.1f Mbit/s the first loss came at %d channels (%.2f Gbit/s)", s.Mbps, lp.N, lp.Offered())
			} else if s.HaveBest {
				line += fmt.Sprintf("; at %.1f Mbit/s no loss up to the last rung, %d channels (%.2f Gbit/s)", s.Mbps, s.Best.N, s.Best.Offered())
			}
		}
		b.WriteString(line + "\n")
	} else {
		fmt.Fprintf(&b, "- No loss at %.0f Gbit/s aggregate on one core: slabcast lost at every point (not met)\n", GoalGbps)
	}
	b.WriteString("\n")

	if bareTable(&b, rep) {
		b.WriteString("\n")
	}

	b.WriteString("## How loss was judged\n\n")
	b.WriteString("- slabcast, exactly: datagrams sent (sendmmsg's count) against the daemon's " +
		"`slabcast_input_datagrams_total` summed over the streams, the sockets' kernel drops " +
		"(`slabcast_input_kernel_drops_total`, and /proc/net/udp's drops column for the channels' ports), " +
		"`slabcast_input_ts_lost_total` (TS packets missing by continuity) and `slabcast_dropped_packets_total`; " +
		"zero loss is all of them clean. Where datagrams are missing with no socket drop, the kernel lost them before any socket: " +
		"the loss column gives the CPUs' input backlog drops (/proc/net/softnet_stat) of the window, the receive half " +
		"(softirq) on the headend's core falling behind.\n")
	fmt.Fprintf(&b, "- ffmpeg, from the outside (it counts nothing): the kernel drops on its sockets (/proc/net/udp, "+
		"exact), its `Circular buffer overrun` warnings (datagrams its reading thread could not queue; it runs "+
		"with `overrun_nonfatal=1`) and `Packet corrupt` warnings (its demuxer's continuity counter errors) "+
		"logged during the window, every process still alive, and how long the fleet went on using CPU after "+
		"the sender stopped: a fleet that keeps up is idle within a tick, one that cannot falls seconds behind "+
		"(its socket buffers and FIFOs hold seconds of stream) before anything is dropped, so more than %v of "+
		"catch-up counts as loss. Its segments are written whole, so bytes on tmpfs cannot show loss within "+
		"a few seconds; the segments column counts the files begun in the window.\n\n", MaxCatchUp)

	b.WriteString("## Caveats\n\n")
	b.WriteString("- Process CPU is sampled in 10 ms ticks, and softirq work (the kernel's receive half, run on the " +
		"headend's core by the steering) is charged to whichever task it interrupts, so a varying part of it lands in " +
		"the headend's utime+stime: for slabcast at 67 × 15 Mbit/s, repeated runs gave anywhere from 0.19 to 0.42 cores " +
		"of process CPU with the core 0.45 busy each time. The core-busy figures (everything the headend's core did in " +
		"the window) move much less between runs; read both.\n")
	b.WriteString("- ffmpeg asks for a 16 MiB socket buffer but gets 2 × net.core.rmem_max without privilege " +
		"(its warning says how much); slabcast forces 16 MiB with SO_RCVBUFFORCE as root. Neither dropped " +
		"in the kernel below its first loss.\n")
	b.WriteString("- The machine is a shared VM: other work on the headend's core shows as loss and as CPU time. " +
		"A slabcast rung that loses is measured once more and passes if that run is clean; an ffmpeg rung is measured once.\n")
	short := 0
	for _, s := range rep.Series {
		for _, p := range s.Points {
			if p.Offered() < 0.97*p.Target() {
				short++
			}
		}
	}
	if short > 0 {
		fmt.Fprintf(&b, "- The sender fell more than 3%% short of its target on %d of the points (column sent): "+
			"those offered less than their N × R.\n", short)
	}
	for _, s := range rep.Series {
		if len(s.Skipped) > 0 {
			fmt.Fprintf(&b, "- %v at %.1f Mbit/s: N = %v not tried, the run's time budget (%v) was spent.\n",
				s.System, s.Mbps, s.Skipped, cfg.Budget)
		}
	}
	if rep.FFmpegSkipped != "" {
		fmt.Fprintf(&b, "- ffmpeg baseline not measured: %s.\n", rep.FFmpegSkipped)
	}
	b.WriteString("\n")

	b.WriteString("## Every point\n\n")
	report.TableHead(&b, "lrrrrrrrrrrrrrr", "system", "R, Mbit/s", "N", "target Gbit/s", "sent Gbit/s", "loss", "kernel drops",
		"TS lost / overruns", "catch-up", "segments", "CPU, cores", "CPU a channel", "CPU µs/datagram", fmt.Sprintf("CPU %d busy", cfg.ReceiverCPU), "pool")
	row := func(p Point, label string) {
		loss := "none"
		if p.Started < p.N {
			fmt.Fprintf(&b, "| %s | %.2f | %d | %.2f | – | only %d of %d channels started within %v of sending | – | – | – | – | – | – | – | – | – |\n",
				label, p.Mbps, p.N, p.Target(), p.Started, p.N, cfg.WarmMax)
			return
		}
		if !p.ZeroLoss() {
			loss = "LOSS"
			if p.HaveReceived && p.Sent >= p.Received {
				loss = fmt.Sprintf("%d datagrams", p.Sent-p.Received)
			}
			if p.Alive != p.expectAlive() {
				loss += fmt.Sprintf(", %d of %d alive", p.Alive, p.expectAlive())
			}
		}
		if p.BacklogDrops > 0 {
			loss += fmt.Sprintf(" (backlog drops %d)", p.BacklogDrops)
		}
		second, pool := fmt.Sprint(p.TSLost+p.Dropped), "–"
		if p.System == FFmpeg {
			second = fmt.Sprint(p.Overruns)
		} else {
			pool = fmt.Sprintf("%d MiB", p.Memory>>20)
		}
		sent := fmt.Sprintf("%.2f", p.Offered())
		if p.Burst > 1 {
			sent += fmt.Sprintf(" (GSO ×%d)", p.Burst)
		}
		fmt.Fprintf(&b, "| %s | %.2f | %d | %.2f | %s | %s | %d | %s | %v | %d | %.3f | %s | %.1f | %.2f | %s |\n",
			label, p.Mbps, p.N, p.Target(), sent, loss, p.KernelDrops, second,
			p.CatchUp.Round(time.Millisecond), p.Segments, p.CPUShare(), pct(p.PerChannel()),
			p.NsPerDatagram()/1e3, p.BusyShare(), pool)
	}
	for _, s := range rep.Series {
		for _, p := range s.Points {
			row(p, p.System.short())
		}
	}
	for i, pr := range rep.Pairs {
		row(pr.Slabcast, fmt.Sprintf("slabcast, pair %d", i+1))
		if pr.HaveFFmpeg {
			row(pr.FFmpeg, fmt.Sprintf("ffmpeg, pair %d", i+1))
		}
	}
	b.WriteString("\nTS lost / overruns: slabcast's TS packets missing by continuity plus those dropped for want of " +
		"slab memory; ffmpeg's FIFO overrun and corrupt packet warnings in the window. CPU µs/datagram: the headend's CPU time per datagram sent " +
		"(1316 bytes each). Pairs: the channel counts of issue 8's goals measured again after the ladders, slabcast and then at once " +
		"ffmpeg (where its ladder carried that many), so that each ratio compares two runs seconds apart on this shared machine.\n")
	var warns []string
	for _, s := range rep.Series {
		if s.System != FFmpeg || len(s.Points) == 0 {
			continue
		}
		p := s.Points[len(s.Points)-1]
		for _, w := range p.Warnings {
			warns = append(warns, fmt.Sprintf("%.1f Mbit/s, N = %d: %s", p.Mbps, p.N, w))
		}
	}
	if len(warns) > 0 {
		b.WriteString("\nffmpeg's own warnings over the life of the last point's processes (start-up included; " +
			"the `non-existing PPS` lines are the prober joining mid-GOP):\n\n")
		for _, w := range warns {
			fmt.Fprintf(&b, "    %s\n", w)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// series returns the series of sys at the nominal rate mbps, nil if none.
func (rep *Report) series(sys System, mbps float64) *Series {
	for i := range rep.Series {
		if s := &rep.Series[i]; s.System == sys && s.Rate.Mbps == mbps {
			return s
		}
	}
	return nil
}

// lastAt returns the point of s with n channels, a zero-loss one if any
// try was clean, else the last; nil if n was not measured.
func (s *Series) lastAt(n int) *Point {
	var last *Point
	for i := range s.Points {
		p := &s.Points[i]
		if p.N != n {
			continue
		}
		if p.ZeroLoss() {
			return p
		}
		last = p
	}
	return last
}

// goalAtLine is issue 8's CPU goal at n channels of GoalMbps: the median
// over the back-to-back pairs (and the ladder's point) of ffmpeg's CPU a
// channel over slabcast's. Where ffmpeg could not carry n channels on the
// core, its CPU a channel is taken as at least what it spent a channel at
// the most channels it did carry (its cost a channel grew with N in every
// ladder measured here) and at least 1/n of the core; the ratio is then a
// lower bound.
func (rep *Report) goalAtLine(n int) string {
	head := fmt.Sprintf("- At least %.0f× fewer CPU-seconds per channel than ffmpeg at %d × %.0f Mbit/s, zero loss, one core (issue 8): ",
		GoalRatio, n, GoalMbps)
	ss, fs := rep.series(Slabcast, GoalMbps), rep.series(FFmpeg, GoalMbps)
	if ss == nil {
		return head + "not measured (not met)"
	}
	sp := ss.lastAt(n)
	if sp == nil || !sp.ZeroLoss() || sp.PerChannel() <= 0 {
		return head + "slabcast did not run it without loss (not met)"
	}
	slab := []float64{sp.PerChannel()}
	var ratios []float64
	var fpc []float64
	if fs != nil {
		if fp := fs.lastAt(n); fp != nil && fp.ZeroLoss() {
			ratios = append(ratios, fp.PerChannel()/sp.PerChannel())
			fpc = append(fpc, fp.PerChannel())
		}
	}
	for _, pr := range rep.Pairs {
		if pr.N != n || !pr.Slabcast.ZeroLoss() {
			continue
		}
		slab = append(slab, pr.Slabcast.PerChannel())
		if r, ok := pr.Ratio(); ok {
			ratios = append(ratios, r)
			fpc = append(fpc, pr.FFmpeg.PerChannel())
		}
	}
	if fs == nil {
		return head + fmt.Sprintf("slabcast %s a channel; ffmpeg not measured (%s)", pct(median(slab)), rep.FFmpegSkipped)
	}
	if len(ratios) > 0 {
		r := median(ratios)
		line := head + fmt.Sprintf("%.2f×, the median of %d measurements (%s; slabcast %s a channel, ffmpeg %s) (%s)",
			r, len(ratios), joinX(ratios), pct(median(slab)), pct(median(fpc)), report.Met(r >= GoalRatio))
		if r < GoalRatio {
			line += rep.bareBound(GoalMbps, n, median(fpc))
		}
		return line
	}
	// ffmpeg could not carry n: its cost a channel at the most it carried.
	floor, at := 1/float64(n), 0
	if fs.HaveBest && fs.Best.N < n {
		at = fs.Best.N
		best := []float64{fs.Best.PerChannel()}
		for _, pr := range rep.Pairs {
			if pr.N == at && pr.HaveFFmpeg && pr.FFmpeg.ZeroLoss() {
				best = append(best, pr.FFmpeg.PerChannel())
			}
		}
		floor = max(floor, median(best))
	}
	r := floor / median(slab)
	why := fmt.Sprintf("ffmpeg could not carry %d channels on the core", n)
	if fp := fs.lastAt(n); fp == nil {
		why = fmt.Sprintf("ffmpeg lost below %d channels and was not tried at %d", n, n)
	}
	basis := fmt.Sprintf("more than 1/%d of the core", n)
	if at > 0 {
		basis = fmt.Sprintf("%s a channel, what it spent at %d channels, the most it carried", pct(floor), at)
	}
	return head + fmt.Sprintf("≥ %.2f× (%s; taken at %s; slabcast %s a channel, the median of %d runs) (%s)",
		r, why, basis, pct(median(slab)), len(slab), report.Met(r >= GoalRatio))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinX(v []float64) string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%.2f×", x)
	}
	return strings.Join(out, ", ")
}

// goalManyLine is issue 8's GoalMany channels of GoalMbps without loss.
func (rep *Report) goalManyLine() string {
	head := fmt.Sprintf("- %d × %.0f Mbit/s channels on one core with zero loss (issue 8): ", GoalMany, GoalMbps)
	ss := rep.series(Slabcast, GoalMbps)
	if ss == nil {
		return head + "not measured (not met)"
	}
	p := ss.lastAt(GoalMany)
	if p == nil {
		return head + "not measured (not met)"
	}
	full := p.Offered() >= 0.97*p.Target()
	offered := fmt.Sprintf("%.2f Gbit/s offered of %.2f", p.Offered(), p.Target())
	if !full {
		offered += ", the sender fell short"
	}
	if !p.ZeroLoss() {
		return head + fmt.Sprintf("lost (%s, %s) (not met)", lossText(*p), offered)
	}
	return head + fmt.Sprintf("no loss, %s, CPU %.2f cores, the core %.2f busy (%s)", offered, p.CPUShare(), p.BusyShare(), report.Met(full))
}

// pointAt returns the last zero-loss point of sys at rate mbps (real) with
// n channels.
func (rep *Report) pointAt(sys System, mbps float64, n int) *Point {
	for i := range rep.Series {
		s := &rep.Series[i]
		if s.System != sys || s.Mbps != mbps {
			continue
		}
		for j := len(s.Points) - 1; j >= 0; j-- {
			if s.Points[j].N == n && s.Points[j].ZeroLoss() {
				return &s.Points[j]
			}
		}
	}
	return &Point{}
}

func bestCells(s *Series) (best, gbps, loss string) {
	best, gbps, loss = "none", "–", "–"
	if s.HaveBest {
		best = fmt.Sprint(s.Best.N)
		gbps = fmtGbps(s.Best.Offered())
		if !s.Lost {
			best = "≥ " + best
		}
	}
	if p, ok := s.firstLoss(); ok && s.Lost {
		loss = fmt.Sprint(p.N)
	} else if len(s.Skipped) > 0 {
		loss = "not reached"
	}
	return best, gbps, loss
}

// bareBound says where the bare recvmmsg loop of this run stood at n
// channels of mbps against ffmpeg's ffmpegPC (CPU a channel): when even a
// loop that only receives and discards is not GoalRatio× below ffmpeg, the
// goal is beyond any receiver on this machine, and the line says so.
func (rep *Report) bareBound(mbps float64, n int, ffmpegPC float64) string {
	bp := rep.pointAt(Bare, mbps, n)
	if bp.N == 0 || bp.PerChannel() <= 0 || ffmpegPC <= 0 {
		return ""
	}
	r := ffmpegPC / bp.PerChannel()
	s := fmt.Sprintf("; the bare recvmmsg loop, at %d channels in this run, spent %.1f µs a datagram, %s a channel: %.2f× below ffmpeg",
		n, bp.NsPerDatagram()/1e3, pct(bp.PerChannel()), r)
	if r < GoalRatio {
		s += fmt.Sprintf(", so %.0f× is below what the kernel's receive path alone costs here", GoalRatio)
	}
	return s
}

func pct(share float64) string { return fmt.Sprintf("%.2f%%", 100*share) }

// WriteSVG plots the CPU per channel (share of a core) against the channel
// count, one line per system and rate; hollow markers lost.
func (rep *Report) WriteSVG(w io.Writer) error {
	colors := map[System][]string{Slabcast: {"#1f77b4", "#17becf"}, FFmpeg: {"#d62728", "#ff7f0e"}, Bare: {"#7f7f7f", "#2ca02c"}}
	dashes := []string{"", "6 3"}
	var maxX, maxY float64
	for _, s := range rep.Series {
		for _, p := range s.Points {
			maxX = max(maxX, float64(p.N))
			maxY = max(maxY, 100*p.PerChannel())
		}
	}
	pl := plot.Plot{Title: "Channels on one core: CPU per channel (% of a core) against channels", Width: 680, Height: 440,
		X:       plot.Axis{Label: "channels (N)", Max: plot.NiceCeil(max(maxX, 1)), Tick: num},
		Y:       plot.Axis{Label: "CPU per channel, % of one core", Max: plot.NiceCeil(max(maxY, 0.1)), Tick: func(v float64) string { return num(v) + "%" }},
		LegendX: 680 - 20 - 250, Note: "filled: no loss; hollow: loss"}
	rates := map[float64]int{}
	for _, r := range rep.Config.Rates {
		rates[r.Mbps] = len(rates)
	}
	for _, s := range rep.Series {
		ri := rates[s.Rate.Mbps] % 2
		pts := slices.Clone(s.Points)
		slices.SortStableFunc(pts, func(a, b Point) int { return a.N - b.N })
		ps := plot.Series{Name: fmt.Sprintf("%s, %.1f Mbit/s", s.System.short(), s.Mbps), Color: colors[s.System][ri], Dash: dashes[ri]}
		for _, p := range pts {
			ps.Points = append(ps.Points, plot.Point{X: float64(p.N), Y: 100 * p.PerChannel(), Hollow: !p.ZeroLoss()})
		}
		pl.Series = append(pl.Series, ps)
	}
	return pl.WriteSVG(w)
}

func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// bareTable writes slabcast's CPU a datagram against the bare loop's at
// each channel count both ran without loss; false if there is none.
func bareTable(b *strings.Builder, rep *Report) bool {
	var rows []string
	for _, r := range rep.Config.Rates {
		ss, bs := rep.series(Slabcast, r.Mbps), rep.series(Bare, r.Mbps)
		if ss == nil || bs == nil {
			continue
		}
		for _, n := range r.Slabcast {
			sp, bp := ss.lastAt(n), bs.lastAt(n)
			if sp == nil || bp == nil || !sp.ZeroLoss() || !bp.ZeroLoss() {
				continue
			}
			ratio := "–" // the bare loop used less than a clock tick
			if bp.NsPerDatagram() > 0 {
				ratio = fmt.Sprintf("%.2f", sp.NsPerDatagram()/bp.NsPerDatagram())
			}
			rows = append(rows, fmt.Sprintf("| %.2f | %d | %.1f | %.1f | %s | %.2f | %.2f |", ss.Mbps, n,
				sp.NsPerDatagram()/1e3, bp.NsPerDatagram()/1e3, ratio, sp.BusyShare(), bp.BusyShare()))
		}
	}
	if len(rows) == 0 {
		return false
	}
	b.WriteString("## Against the bare loop\n\n")
	b.WriteString("CPU time per datagram (utime+stime: slabcast's process, the bare loop's receiving thread) at the same N, " +
		"both without loss; the bare loop receives every channel on shared sockets as slabcast does and discards it.\n\n")
	report.TableHead(b, "rrrrrrr", "R, Mbit/s", "N", "slabcast µs/datagram", "bare loop µs/datagram", "× bare", "slabcast: core busy", "bare loop: core busy")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	return true
}
