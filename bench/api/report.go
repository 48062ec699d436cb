package api

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/feed"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func num(format string, v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func ratio(v float64) string { return num("%.3f", v) }

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// WriteMarkdown writes the results file: the machine, the command, the
// setup, the B/A table with the spreads and verdicts, every window, the
// pollers, the goals and the caveats.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	rep.Header(&b, "API polling against ingest and delivery",
		fmt.Sprintf("What watching the daemon through its HTTP API v3 costs its real work: %d consoles each asking for "+
			"`GET %s` (every stream with its stats, HTTP Basic) once every %v, against multicast ingest and HLS "+
			"segment delivery. Windows without the pollers (A) and with them (B) alternate; each measure's B/A is "+
			"judged against the A-vs-A run-to-run spread. Goal: nothing measurable, and zero loss in both.",
			cfg.Pollers, cfg.PollPath, cfg.PollEvery))
	planned := fmt.Sprintf("%d pairs", cfg.Pairs)
	if extra := len(rep.Windows)/2 - cfg.Pairs; extra > 0 {
		planned = fmt.Sprintf("%d pairs planned, %d more because other work disturbed some", cfg.Pairs, extra)
	}
	worker := "not found (the ingest verdict falls back on the daemon's whole CPU time)"
	if rep.WorkerFound {
		worker = fmt.Sprintf("found: the thread with the most CPU time while the daemon only took in the channels, %.0f%% of it", 100*rep.WorkerShare)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace. The daemon under test is the built `slabcast` binary "+
		"(`slabcast run`), the whole process under `taskset -c %d` with `cpus %d;` (its runtime sees one CPU), "+
		"`memory %dM;`, `edit_auth %s %s;`, and %d streams ch0…ch%d with `segment_duration %s; segment_count %d;`, "+
		"each fed udp://239.10.x.y:%d (every group on one port, the IPTV layout). One sender thread pinned to CPU %d "+
		"sends every channel the clip `%s` (%.2f Mbit/s, looped without a seam; %.2f Gbit/s in all) with sendmmsg, "+
		"paced by a token bucket, sleeping through its waits (it shares its core with the clients). "+
		"Receive packet steering on lo to CPU %d: %s.\n\n",
		cfg.DaemonCPU, cfg.DaemonCPU, rep.Memory>>20, cfg.User, cfg.Password, cfg.Channels, cfg.Channels-1,
		seconds(cfg.SegmentDuration), cfg.SegmentCount, cfg.Port, cfg.SenderCPU, cfg.Clip, rep.Bitrate/1e6,
		float64(cfg.Channels)*rep.Bitrate/1e9, cfg.DaemonCPU, report.OnOff(rep.Steered))
	fmt.Fprintf(&b, "HLS load, in both cases: %d viewers a channel, each fetching the playlist and then the newest "+
		"segment it lists once a segment_duration: %.1f segment fetches a second in all, played by %d client "+
		"goroutines in the benchmark process (kept on CPU %d), one keep-alive connection each, taking turns "+
		"paced evenly over the channels (a client that falls behind goes on from where it is, without a burst). "+
		"A fetch's latency is from its request to the last byte of the answer.\n\n",
		cfg.Viewers, cfg.FetchRate(), cfg.Fetchers, cfg.SenderCPU)
	fmt.Fprintf(&b, "Pollers, in B only: %d, each with a keep-alive connection of its own (opened by one untimed "+
		"poll before the first window and left open and idle through the A windows, as a console's between polls), "+
		"each asking every %v, their phases spread evenly over the period; each answer is kept and decoded after the "+
		"last window (so that decoding takes nothing from the clients' core while windows are measured), and must list "+
		"every stream with its `stats` (%d streams in the first answer).\n\n",
		cfg.Pollers, cfg.PollEvery, rep.ExampleStreams)
	fmt.Fprintf(&b, "Runs: after a warm-up (every playlist full, the clients connected, a second of steady load, "+
		"the daemon drained), %d windows of %v back to back (%s), A, B, A, B, …, the sender and the HLS load running "+
		"throughout; between windows the sender pauses only while the daemon's count catches up with what was "+
		"sent (a few milliseconds). Ingest per window: datagrams sent (sendmmsg's count) against the daemon's "+
		"`slabcast_input_datagrams_total`, its kernel drops, TS packets lost by continuity and dropped for want of "+
		"memory, and the CPUs' input backlog drops (/proc/net/softnet_stat); the daemon's CPU time per datagram "+
		"received, from /proc/PID/task/*/schedstat (nanoseconds: the scheduler's own account) and from "+
		"utime+stime (10 ms ticks); the receive worker's (the locked OS thread that reads the sockets and cuts "+
		"segments; %s) from its schedstat; and how busy the daemon's core was (/proc/stat, the kernel's work "+
		"included). The daemon's CPU covers everything it did: ingest, HLS serving, and in B the answers.\n\n",
		len(rep.Windows), cfg.Window, planned, worker)
	if len(cfg.DaemonEnv) > 0 {
		fmt.Fprintf(&b, "The daemon ran with `%s` in its environment.\n\n", strings.Join(cfg.DaemonEnv, " "))
	}

	measures := rep.Measures()
	compared, all := rep.Compared()
	nA, nB := 0, 0
	for _, w := range compared {
		if w.Kind == With {
			nB++
		} else {
			nA++
		}
	}
	b.WriteString("## B against A\n\n")
	report.TableHead(&b, "llrrrrrrlr", "measure", "unit", "A, median", "B, median", "B/A", "A-vs-A spread", "B-vs-B spread", "B above A", "verdict", "B/A, every window")
	for _, m := range measures {
		name := m.Name
		if m.Judged {
			name = "**" + name + "**"
		}
		higher, _, pairs := m.Pairings()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d of %d | %s | %s |\n", name, m.Unit,
			num(m.Format, m.MidA()), num(m.Format, m.MidB()), ratio(m.Ratio()), pct(Spread(m.A)), pct(Spread(m.B)),
			higher, pairs, m.Verdict(), ratio(m.RatioAll()))
	}
	which := fmt.Sprintf("the %d A and %d B windows that other work on the machine did not disturb (below)", nA, nB)
	if all {
		which = fmt.Sprintf("all %d A and %d B windows (fewer than two of a case were undisturbed, so none is left out)", nA, nB)
	}
	fmt.Fprintf(&b, "\nA and B: the median over %s; the last column is B/A over every window, disturbed or not. Spread: the largest window's figure over the "+
		"smallest's, less one, within a case. B above A: of every pairing of an A window with a B window, those in which "+
		"B's figure is higher. Verdict: nothing measurable when |B/A − 1| is under %.0f%%, or within the A-vs-A spread and B does "+
		"not lie wholly apart from A; measurable when it is outside the spread, or, with at least %d windows of each case, when "+
		"every B window lies beyond every A window on the same side (all pairings or none: with three of each, a 1-in-20 "+
		"chance without any effect; the spread of a few windows is at the mercy of one odd window). "+
		"The measures in bold are judged (the goals below): a B measurably better than A (lower CPU or latency) is no cost. "+
		"The others are context: the daemon's whole CPU includes its answers to the pollers; the HLS load is paced, so "+
		"its throughput follows the sizes of the segments that happened to be newest, and is checked below as fetches "+
		"served against the pace.\n\n", which, 100*Floor, MinApart)

	b.WriteString("## Every window: ingest\n\n")
	report.TableHead(&b, "rlrrrrrrrrrrrrrrrrl", "#", "case", "start s", "sent", "of target", "received", "Mbit/s a channel", "kernel drops",
		"TS lost", "backlog drops", "segments", "daemon µs/datagram", "utime+stime µs/datagram", "worker µs/datagram", "daemon cores", "core busy", "other tasks", "steal", "compared")
	for i, w := range rep.Windows {
		worker := "–"
		if rep.WorkerFound {
			worker = fmt.Sprintf("%.3f", w.WorkerPerDatagram())
		}
		cmp := "yes"
		if why := w.Disturbed(cfg); why != "" {
			cmp = "no: " + why
			if all {
				cmp = "yes (" + why + ")"
			}
		}
		fmt.Fprintf(&b, "| %d | %v | %.1f | %d | %s | %d | %.2f | %d | %d | %d | %d | %.3f | %.3f | %s | %.3f | %.3f | %.3f | %.3f | %s |\n",
			i+1, w.Kind, w.Start.Seconds(), w.Sent, share(float64(w.Sent), w.SendTarget), w.Received, w.InputRate*feed.DatagramSize*8/1e6/float64(max(1, cfg.Channels)),
			w.KernelDrops, w.TSLost, w.BacklogDrops, w.Segments, w.CPUPerDatagram(), w.TicksPerDatagram(), worker, w.Cores(), w.BusyShare(), perSecond(w.Foreign.Seconds(), w.Wall), perSecond(w.Steal.Seconds(), w.Wall), cmp)
	}
	fmt.Fprintf(&b, "\nOf target: datagrams sent over what the pace asked for. Core busy: the daemon's core's busy time a second "+
		"(/proc/stat: every task there, interrupts, softirq and steal). Other tasks: the time other tasks ran on the daemon's "+
		"core (its user and system time less the daemon's utime+stime), a second; steal: the time the hypervisor gave the "+
		"core to other machines, a second (this VM shares its host). "+
		"A window is compared unless other work (other tasks and steal together) took more than %.2f of the daemon's core or the sender, whose core other "+
		"work can take too, sent less than %.0f%% of its pace. The pollers add nothing to the first (their answers are the "+
		"daemon's own time) and next to nothing to the second (their answers are decoded after the last window). While either case had fewer than %d undisturbed windows, "+
		"another pair was measured, up to %d more.\n", cfg.ForeignMax, 100*cfg.SendMin, cfg.Pairs, cfg.ExtraPairs)
	b.WriteString("\n## Every window: delivery and polls\n\n")
	report.TableHead(&b, "rlrrrrrrrrrrrrrrrr", "#", "case", "segment fetches", "of target", "Gbit/s", "segment p50 ms", "p99 ms", "max ms",
		"playlist p50 ms", "p99 ms", "late turns", "fetch errors", "daemon requests/s", "polls", "poll p50 ms", "p99 ms", "answer bytes", "poll errors")
	for i, w := range rep.Windows {
		polls := []string{"–", "–", "–", "–", "–"}
		if w.Kind == With {
			polls = []string{strconv.Itoa(w.Polls), ms(w.PollDist.P50), ms(w.PollDist.P99), fmt.Sprintf("%.0f", w.AnswerBytes()), strconv.Itoa(w.PollErrors)}
		}
		fmt.Fprintf(&b, "| %d | %v | %d | %s | %.3f | %s | %s | %s | %s | %s | %d | %d | %.1f | %s |\n",
			i+1, w.Kind, w.Fetches, share(float64(w.Fetches), w.FetchTarget), w.Gbps(), ms(w.FetchDist.P50), ms(w.FetchDist.P99), ms(w.FetchDist.Max),
			ms(w.PlaylistDist.P50), ms(w.PlaylistDist.P99), w.LateStart, w.FetchErrors, perSecond(float64(w.HTTPRequests), w.Wall), strings.Join(polls, " | "))
	}
	b.WriteString("\n")

	b.WriteString("## The pollers' answers\n\n")
	polls, errs, newConns, minStreams, minRunning := 0, 0, 0, -1, -1
	var bytes int64
	var wall time.Duration
	for _, w := range rep.Kind(With) {
		polls, errs, newConns, bytes, wall = polls+w.Polls, errs+w.PollErrors, newConns+w.NewConns, bytes+w.PollBytes, wall+w.Elapsed
		if w.MinStreams >= 0 && (minStreams < 0 || w.MinStreams < minStreams) {
			minStreams = w.MinStreams
		}
		if w.MinRunning >= 0 && (minRunning < 0 || w.MinRunning < minRunning) {
			minRunning = w.MinRunning
		}
	}
	var worst time.Duration // the windows' p99, the worst of them
	for _, w := range rep.Kind(With) {
		worst = max(worst, w.PollDist.P99)
	}
	mean := 0.0
	if polls > 0 {
		mean = float64(bytes) / float64(polls)
	}
	report.TableHead(&b, "rrrrrrrr", "answers", "a second", "p50 ms, mean of windows", "p99 ms, worst window", "answer bytes", "streams listed, fewest", "running, fewest", "errors")
	fmt.Fprintf(&b, "| %d | %.1f | %s | %s | %.0f | %d | %d | %d |\n", polls, perSecond(float64(polls), wall),
		ms(meanDur(rep.Kind(With), func(w Window) time.Duration { return w.PollDist.P50 })), ms(worst), mean, minStreams, minRunning, errs)
	b.WriteString("\n")
	if n := newConns; n > 0 {
		fmt.Fprintf(&b, "%d answers came on a new connection (the daemon or the client closed an idle one).\n\n", n)
	}
	if perAnswer, cores, ok := rep.APICost(); ok {
		fmt.Fprintf(&b, "The daemon's CPU time a second was %.4f cores higher in B than in A (schedstat, every window of each): "+
			"%.0f µs of daemon CPU an answer, if all of it is the answers'.\n\n", cores, perAnswer)
	}

	b.WriteString("## Goals\n\n")
	var sendErrs, kdrops, tslost, dropped, backlog uint64
	for _, w := range rep.Windows {
		sendErrs, kdrops, tslost, dropped, backlog = sendErrs+w.SendErrors, kdrops+w.KernelDrops, tslost+w.TSLost, dropped+w.Dropped+w.PoolExhausted, backlog+w.BacklogDrops
	}
	if disturbed := len(rep.Windows) - len(compared); disturbed > 0 || all {
		n := 0
		for _, w := range rep.Windows {
			if w.Disturbed(cfg) != "" {
				n++
			}
		}
		if all && n > 0 {
			fmt.Fprintf(&b, "- Other work on the machine disturbed %d of the %d windows, leaving fewer than two undisturbed windows of a case: "+
				"every window is compared, and the verdicts below weigh that work as much as the pollers' (inconclusive; run again on a quieter machine)\n",
				n, len(rep.Windows))
		} else {
			fmt.Fprintf(&b, "- Other work on the machine disturbed %d of the %d windows; they are left out of the comparison (table above)\n",
				disturbed, len(rep.Windows))
		}
	}
	fmt.Fprintf(&b, "- Zero loss in every window, A and B: %d datagrams sent, %d received by the daemon over the series "+
		"(counted after it drained); kernel drops %d, TS packets lost %d, dropped for memory %d, backlog drops %d; "+
		"sendmmsg calls that failed %d (%s)\n",
		rep.TotalSent, rep.TotalReceived, kdrops, tslost, dropped, backlog, sendErrs, report.Met(rep.ZeroLoss()))
	costs := map[string][]string{}
	judged := map[string][]string{}
	for _, m := range measures {
		if !m.Judged {
			continue
		}
		line := fmt.Sprintf("%s B/A %s (A-vs-A spread %s): %s", m.Name, ratio(m.Ratio()), pct(Spread(m.A)), m.Verdict())
		judged[m.Group] = append(judged[m.Group], line)
		if m.Costs() || m.Verdict() == Undetermined {
			costs[m.Group] = append(costs[m.Group], m.Name)
		}
	}
	for _, g := range []struct{ group, what string }{{"ingest", "Ingest"}, {"daemon", "Ingest (the daemon's whole CPU standing for it)"}, {"delivery", "Segment delivery"}} {
		if len(judged[g.group]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s costs nothing measurable with the pollers: %s (%s)\n", g.what, strings.Join(judged[g.group], "; "),
			report.Met(len(costs[g.group]) == 0))
	}
	var context []string
	for _, m := range measures {
		if !m.Judged && m.Group == "delivery" && m.Costs() {
			higher, _, pairs := m.Pairings()
			context = append(context, fmt.Sprintf("%s B/A %s (A-vs-A spread %s, B above A in %d of %d pairings)",
				m.Name, ratio(m.Ratio()), pct(Spread(m.A)), higher, pairs))
		}
	}
	if len(context) > 0 {
		fmt.Fprintf(&b, "- Not judged, but measurable in delivery: %s\n", strings.Join(context, "; "))
	}
	minFetch, fetchErrs := math.Inf(1), 0
	for _, w := range compared {
		fetchErrs += w.FetchErrors
		if w.FetchTarget > 0 {
			minFetch = min(minFetch, float64(w.Fetches)/w.FetchTarget)
		}
	}
	fmt.Fprintf(&b, "- The HLS load served at its pace in every compared window: at least %s of the paced segment fetches completed in each, %d failed (%s)\n",
		pct(minFetch), fetchErrs, report.Met(fetchErrs == 0 && minFetch >= 0.99))
	fmt.Fprintf(&b, "- Every poll answered, every answer the full list: %d answers, %d errors, the fewest streams listed %d of %d (%s)\n",
		polls, errs, minStreams, cfg.Channels, report.Met(polls > 0 && errs == 0 && minStreams >= cfg.Channels))
	if rep.FirstFetchError != "" {
		fmt.Fprintf(&b, "- The first HLS fetch error: %s\n", rep.FirstFetchError)
	}
	if rep.FirstPollError != "" {
		fmt.Fprintf(&b, "- The first poll error: %s\n", rep.FirstPollError)
	}

	if perAnswer, cores, ok := rep.APICost(); ok {
		var dm Measure
		for _, m := range measures {
			if m.Name == "daemon CPU a datagram (schedstat)" {
				dm = m
			}
		}
		fmt.Fprintf(&b, "- Not a goal, the answers' own price: the daemon's whole CPU a datagram B/A %s (A-vs-A spread %s), "+
			"%.4f cores more in B, %.0f µs of daemon CPU an answer of %.0f bytes\n", ratio(dm.Ratio()), pct(Spread(dm.A)), cores, perAnswer, mean)
	}
	b.WriteString("\n## Caveats\n\n")
	b.WriteString("- The machine is a shared VM with 2 cores; other work on either core moves single windows, which " +
		"the spreads show (the load averages above say how busy it was). A spread from a few windows is a coarse " +
		"yardstick: with three A windows, a B/A within it says the pollers' effect is below this run's noise, not that it is zero.\n")
	b.WriteString("- The HLS clients, the pollers and the sender share CPU 0; client-side " +
		"scheduling is in every latency quoted, in both cases. The latencies are the clients' view, loopback TCP included.\n")
	b.WriteString("- The daemon runs Go on one P (`cpus 1;`): an HLS request that arrives while it computes an API answer " +
		"waits for the answer's CPU time (under Go's 10 ms preemption), so the answers' CPU time above bounds what the " +
		"pollers can add to a fetch's tail, and a few per cent of fetches (the share of the time spent answering) can pay it. " +
		"The receive worker, woken by data, needs that P too: ingest here is judged by loss and CPU time a datagram, " +
		"not by how late a datagram reaches a playlist or /mpegts (`slabbench latency` measures that, without pollers).\n")
	b.WriteString("- The daemon's CPU time includes its answers to the pollers in B and its HLS serving in both; the receive " +
		"worker's is ingest alone (reading the sockets, parsing, cutting segments), which is what the pollers could slow. " +
		"Kernel work done in softirq is charged to whichever task it interrupts, so part of it may land in either figure.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// share formats x as a share of target.
func share(x, target float64) string {
	if target <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", x/target)
}

func meanDur(ws []Window, f func(Window) time.Duration) time.Duration {
	if len(ws) == 0 {
		return 0
	}
	var s time.Duration
	for _, w := range ws {
		s += f(w)
	}
	return s / time.Duration(len(ws))
}
