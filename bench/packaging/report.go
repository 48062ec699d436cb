package packaging

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func pct(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", x*100)
}

// boundWords says a count of runs by bound: "3 server", "2 wrk, 1 both".
func boundWords(m map[string]int) string {
	var out []string
	for _, k := range []string{"server", "wrk", "both", "neither"} {
		if m[k] > 0 {
			out = append(out, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(out) == 0 {
		return "–"
	}
	return strings.Join(out, ", ")
}

// WriteMarkdown writes the results file: the machine, the command, the
// three parts' tables, the goals and the caveats.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	loadCores, _ := proc.CountCPUs(cfg.LoadCPUs)
	rep.Header(&b, "Packaging: fMP4 HLS and MPEG-DASH",
		"The packaging issue: requests/s for fMP4 segments and DASH against nginx serving the same bytes from tmpfs "+
			"(goal ≥ 1.0×), CPU per packaged Gbit/s, and memory per channel with all outputs in use.",
		rep.Nginx, rep.Wrk)
	pin := "unpinned"
	if cfg.ServerCPUs != "" {
		pin = fmt.Sprintf("slabcast and nginx pinned with taskset to CPU %s, wrk, the feeders and the benchmark's own threads to CPU %s",
			cfg.ServerCPUs, cfg.LoadCPUs)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace; %s. Every stream takes a multicast feed (`slabcast feed --loop` of a clip "+
		"encoded on the fly: %s) with segment_duration %d. slabcast packages a segment into a form (fMP4 init or media, a DASH "+
		"track's init or media) on the first request for it and keeps the result with the segment, so later requests are "+
		"served from memory.\n\n", pin, clip.FeedRecipe, cfg.SegmentDuration)
	if len(rep.Absent) > 0 {
		b.WriteString("Outputs this build does not serve (their rows are kept; they fill in once the route lands):\n\n")
		for _, o := range Outputs {
			if why, ok := rep.Absent[o.Name]; ok {
				fmt.Fprintf(&b, "- %s (%s): %s\n", o.Label, o.Name, why)
			}
		}
		b.WriteString("\n")
	}

	rep.writeDelivery(&b, loadCores)
	rep.writePackaging(&b)
	rep.writeMemory(&b)
	rep.writeGoals(&b, loadCores)

	b.WriteString("\n## Caveats\n\n")
	b.WriteString("- Two cores on a shared VM: wrk (and the feeders, and in parts 2 and 3 the fetcher) get one, the servers the other. " +
		"A run is bounded by the server when its core is full (busy ≥ 0.95, or slabcast's process alone ≥ 0.9 cores), by wrk when " +
		"wrk's core is; a ratio of two runs that wrk bounded measures wrk, not the servers, and the goal lines say so. " +
		"The A-vs-A spread (the same server's largest requests/s over its smallest, less one) says how far one measure moves from " +
		"run to run; a ratio within it is no difference.\n")
	b.WriteString("- slabcast is measured live: it ingests its feed throughout, so its CPU includes its ingest; nginx's does not.\n")
	b.WriteString("- Part 1 is delivery from memory: each form was packaged when the snapshot fetched it, before any run. " +
		"Part 2 is where packaging's cost shows.\n")
	b.WriteString("- Part 2's extra CPU includes rendering and serving the packaged outputs' manifests and serving each packaged form " +
		"once (a request and its bytes) on top of packaging; part 1's µs CPU per request and CPU s per Gbit bound that share.\n")
	if rep.FetchErrors > 0 {
		fmt.Fprintf(&b, "- The fetcher had %d failed fetches in parts 2 and 3; the first: %s\n", rep.FetchErrors, rep.FirstFetchError)
	}
	b.WriteString("- Part 3: resident memory is read after a retention window in each mode; the Go runtime returns freed heap to the " +
		"system lazily, so VmRSS lags the heap; the heap figures (/metrics) are the daemon's own. Both moments are on one daemon, TS only first.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (rep *Report) writeDelivery(b *strings.Builder, loadCores int) {
	cfg := rep.Config
	b.WriteString("## 1. Delivery: slabcast against nginx\n\n")
	fmt.Fprintf(b, "One stream `%s` (segment_count %d, %.2f Mbit/s measured at slabcast's input). Per case, after one uncounted "+
		"warm-up run against each server, %d pair(s) of wrk runs (offered load: `-c %d -t %d -d %s --latency`, closed loop: "+
		"%d requests in flight at all times, bench/delivery's script rotating over the case's URLs), slabcast and nginx in alternating order "+
		"(A B, B A, …); each pair takes a fresh snapshot: the manifest, and for a segments case every media segment it lists, fetched "+
		"from slabcast and written with the same URL layout into a directory on /dev/shm (tmpfs) that nginx serves (worker_processes %d, "+
		"bench/delivery's config: sendfile, tcp_nopush, open_file_cache, no access log, the same Cache-Control and CORS headers); "+
		"every media segment is checked byte for byte before the pair runs.\n\n",
		stream, cfg.SegmentCount, rep.Input/1e6, cfg.Pairs, cfg.Connections, cfg.Threads, cfg.Duration, cfg.Connections, rep.Workers)
	report.TableHead(b, "lllrrrrrrrrrrrlrrr", "case", "server", "pair", "requests/s", "Gbit/s", "latency p50 ms", "p99 ms",
		"server CPU s", "cores", "CPU s per Gbit", "µs CPU per request", "server core busy", "wrk core busy", "offered (connections)",
		"bound", "URLs", "mean body bytes", "errors")
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Absent != "" {
			fmt.Fprintf(b, "| %v | – | – | not served by this build | – | – | – | – | – | – | – | – | – | – | – | – | – | – |\n", r.Case)
			continue
		}
		for _, x := range r.Measures {
			l := x.Load
			pg, pr := "–", "–"
			if v := x.CPUPerGbit(); v > 0 {
				pg = fmt.Sprintf("%.3f", v)
			}
			if l.Requests > 0 {
				pr = fmt.Sprintf("%.1f", x.CPU.Seconds()*1e6/float64(l.Requests))
			}
			sb, lb := x.Busy(rep.GoProcs, loadCores)
			fmt.Fprintf(b, "| %v | %v | %d | %.0f | %.2f | %s | %s | %.2f | %.2f | %s | %s | %.2f | %.2f | %d | %s | %d | %.0f | %d |\n",
				r.Case, x.Server, x.Pair+1, l.RPS(), l.Gbps(), ms(l.P50), ms(l.P99), x.CPU.Seconds(), x.Cores(), pg, pr, sb, lb,
				cfg.Connections, x.Bound(rep.GoProcs, loadCores), x.URLs, x.Body, l.Errors())
		}
	}
	b.WriteString("\nGbit/s counts response bytes, headers included. Server CPU: user+system time from /proc/PID/stat over the run " +
		"(slabcast's process, its ingest included; nginx's master and workers), 10 ms resolution; cores is that per second. " +
		"Core busy: the share of the pinned core's time not idle (/proc/stat), the kernel's loopback TCP work included. " +
		"Bound: which core was full (server, wrk, both, neither). Errors: wrk's connect, read, write, timeout and non-2xx answers.\n\n")
	report.TableHead(b, "lrrrlllrrrll", "case", "slabcast requests/s (median)", "nginx requests/s (median)", "× nginx requests/s",
		"× nginx by pair", "nginx A-vs-A spread", "slabcast A-vs-A spread", "slabcast CPU s per Gbit (median)",
		"nginx CPU s per Gbit (median)", "× nginx CPU per Gbit", "slabcast runs bound by", "nginx runs bound by")
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Absent != "" {
			fmt.Fprintf(b, "| %v | – | – | – | – | – | – | – | – | – | – | – |\n", r.Case)
			continue
		}
		x := "–"
		if v, ok := r.Ratio(); ok {
			x = fmt.Sprintf("%.3f", v)
		}
		var pairs []string
		for _, p := range r.PairRatios() {
			pairs = append(pairs, fmt.Sprintf("%.3f", p))
		}
		sc := median(r.Values(Slabcast, Measure.CPUPerGbit))
		nc := median(r.Values(Nginx, Measure.CPUPerGbit))
		xc := "–"
		if nc > 0 {
			xc = fmt.Sprintf("%.3f", sc/nc)
		}
		fmt.Fprintf(b, "| %v | %.0f | %.0f | %s | %s | %s | %s | %.4f | %.4f | %s | %s | %s |\n",
			r.Case, r.RPS(Slabcast), r.RPS(Nginx), x, strings.Join(pairs, ", "), pct(r.Spread(Nginx)), pct(r.Spread(Slabcast)),
			sc, nc, xc, boundWords(r.Bounds(Slabcast, rep.GoProcs, loadCores)), boundWords(r.Bounds(Nginx, rep.GoProcs, loadCores)))
	}
	b.WriteString("\n")
}

func (rep *Report) writePackaging(b *strings.Builder) {
	cfg := rep.Config
	if cfg.Channels <= 0 {
		return
	}
	b.WriteString("## 2. Packaging CPU\n\n")
	inUse := "none (only TS is served by this build)"
	if len(rep.InUse) > 0 {
		inUse = strings.Join(rep.InUse, ", ")
	}
	fmt.Fprintf(b, "One slabcast (config `cpus %s;`, `memory` sized for the channels) with %d channels ch0…ch%d, each its own multicast "+
		"group and feeder (%.2f Mbit/s measured at one channel's input), segment_count %d. A fetcher in the benchmark's process "+
		"(one goroutine and keep-alive connection a channel) polls each channel's TS playlist twice a segment duration and fetches each "+
		"new segment once as TS: the A windows (TS viewers only). In B windows it also polls every packaged output's manifest (outputs in "+
		"use: %s) and fetches every media and init URL they list that it has not fetched before, once, as viewers of every output would "+
		"(fMP4: the media segments, and the EXT-X-MAP init whenever the playlist names a new one; DASH: each track's media, and each "+
		"Period's init once; LL-HLS: the segments and their parts); the segments the TS playlist lists then count as packaged, each once "+
		"(their TS bytes: TS packaged). A windows do not poll the packaged manifests at all: the MPD's first rendering for a timeline "+
		"packages every segment it lists (hls/dash.go: its SegmentTimeline needs each track's packaged spans), so DASH pays its packaging "+
		"when the MPD is polled, not when a segment is fetched. An A window is longer than a playlist, so what a B window's first poll finds "+
		"listed was new in the A window before it and packaged by nobody yet: the B window packages it, as viewers joining then would. "+
		"B's extra daemon CPU over A's is therefore packaging every form of every segment once, rendering and serving the packaged "+
		"outputs' manifests, and serving each packaged form once. A mode starts only once every poll of the other has ended. After "+
		"%v of TS only (every channel's window full) and one uncounted B window of the same length (the heap grows to hold the packaged forms: fresh pages faulted in once), %d round(s) of windows of %v: %s%s. Daemon CPU: every thread's "+
		"/proc/PID/task/*/schedstat (ns); the receive worker: the thread with the most CPU while only TS was fetched "+
		"(%.0f %% of the daemon's then); packaging runs in the HTTP handlers, not on it.\n\n",
		report.OrUnknown(cfg.ServerCPUs), cfg.Channels, cfg.Channels-1, rep.ChannelInput/1e6, cfg.ChannelSegmentCount, inUse,
		cfg.fill(), cfg.WindowPairs, cfg.Window, rep.roundWords(), rep.settleWords(), rep.WorkerShare*100)
	report.TableHead(b, "rllrrrrrrrrrrrrrrrrrrl", "#", "case", "B outputs", "start s", "length s", "daemon cores", "utime+stime cores", "worker cores",
		"server core busy", "load core busy", "ingest Gbit/s", "CPU s per ingest Gbit", "segments cut", "TS fetched", "TS MB",
		"packaged requests", "packaged MB out", "segments packaged", "TS packaged Gbit/s", "kernel drops", "errors", "left out")
	for i, w := range rep.Windows {
		f := w.Fetched
		set := w.Set
		if set == "" {
			set = "–"
		}
		out := rep.Disturbed(w)
		if out == "" {
			out = "–"
		}
		fmt.Fprintf(b, "| %d | %v | %s | %.1f | %.1f | %.4f | %.4f | %.4f | %.3f | %.3f | %.4f | %.3f | %d | %d | %.1f | %d | %.2f | %d | %.4f | %.0f | %d | %s |\n",
			i+1, w.Kind, set, w.Start.Seconds(), w.Wall.Seconds(), w.Cores(), perSecond(w.Ticks.Seconds(), w.Wall), w.WorkerCores(),
			perSecond(w.Busy.Seconds(), w.Wall), perSecond(w.LoadBusy.Seconds(), w.Wall), w.InputGbps(), w.CPUPerIngestGbit(),
			w.Segments, f.TSRequests, float64(f.TSBytes)/1e6, f.PackRequests, float64(f.PackBytes)/1e6, f.Packaged,
			w.PackagedGbps(), w.KernelDrops, f.Errors, out)
	}
	b.WriteString("\nTS packaged: in B windows, the TS bytes of the segments the TS playlist listed, each once (their packaged forms " +
		"fetched as the manifests listed them). Packaged MB out: the bodies of the packaged forms (media, parts and inits). Kernel drops: " +
		"`slabcast_input_kernel_drops_total`. Errors: failed fetches. Left out: a window whose ingest fell below 80 % of the median (the " +
		"daemon or the feeders stalled), that ran over its length by half (the daemon was slow to answer the scrape that ends it), or " +
		"with failed fetches is shown but left out of every median below.\n\n")
	if len(rep.Windows) > 0 {
		var per []string
		for _, o := range rep.InUse {
			var segs, reqs int
			for _, w := range rep.Kind(All) {
				if slices.Contains(strings.Split(w.Set, ","), o) {
					segs += w.Fetched.Packaged
					reqs += w.Fetched.ByOutputReqs[o]
				}
			}
			if segs > 0 {
				per = append(per, fmt.Sprintf("%s %.2f", o, float64(reqs)/float64(segs)))
			}
		}
		if len(per) > 0 {
			fmt.Fprintf(b, "Packaged requests per segment packaged in B windows, inits (and LL-HLS parts) included: %s.\n\n", strings.Join(per, ", "))
		}
	}
	a, aw := rep.windowValues("", Window.Cores), rep.windowValues("", Window.WorkerCores)
	report.TableHead(b, "lrrrrrrlrrl", "B outputs", "B windows", "daemon cores, A median", "daemon cores, B median", "B − A",
		"A-vs-A spread", "B-vs-B spread", "verdict", "TS packaged Gbit/s, B median", "CPU s per Gbit of TS packaged",
		"receive worker cores A → B (verdict)")
	for _, set := range rep.Sets() {
		bb, bw := rep.windowValues(set, Window.Cores), rep.windowValues(set, Window.WorkerCores)
		cost := "–"
		if per, _, ok := rep.PackagingCost(set); ok {
			cost = fmt.Sprintf("%.3f", per)
			if set == rep.AllSet() {
				cost = "**" + cost + "**"
			}
		}
		fmt.Fprintf(b, "| %s | %d | %.4f | %.4f | %.4f | %s | %s | %s | %.4f | %s | %.4f → %.4f (%s) |\n", set, len(bb), median(a),
			median(bb), median(bb)-median(a), pct(spread(a)), pct(spread(bb)), verdict(a, bb),
			median(rep.windowValues(set, Window.PackagedGbps)), cost, median(aw), median(bw), verdict(aw, bw))
	}
	b.WriteString("\nA: every A window (TS only); B: the B windows with that set of packaged outputs in use. CPU s per Gbit of TS " +
		"packaged: (B's median daemon cores − A's) ÷ B's median TS packaged Gbit/s, i.e. cores per Gbit/s of TS packaged into every " +
		"form of the set. Verdict: measurable when B's median lies outside A's spread around A's median and every B window lies beyond " +
		"every A window; else nothing measurable.\n\n")
	if per, extra, ok := rep.PackagingCost(rep.AllSet()); ok {
		fmt.Fprintf(b, "Packaging costs **%.3f CPU s per Gbit of TS packaged** (%.3f cores per Gbit/s) with every output in use: B's "+
			"median daemon CPU less A's, %.4f cores, over B's median %.4f Gbit/s of TS packaged into every form in use (%s)", per, per,
			extra, median(rep.windowValues(rep.AllSet(), Window.PackagedGbps)), inUse)
		if v := verdict(a, rep.windowValues(rep.AllSet(), Window.Cores)); !strings.HasPrefix(v, "measurable") {
			b.WriteString("; the difference is not measurable against the A-vs-A spread, so the figure is an upper bound at best")
		}
		b.WriteString(".\n\n")
	} else {
		b.WriteString("No packaging cost: no TS was packaged (no packaged output in use, or no window of each kind).\n\n")
	}
}

// roundWords says what one round of windows is.
func (rep *Report) roundWords() string {
	var w []string
	for _, set := range rep.Sets() {
		w = append(w, "A, B ("+set+")")
	}
	if len(w) == 0 {
		return "A, B"
	}
	return strings.Join(w, ", ")
}

// settleWords says what comes before each A window, if anything.
func (rep *Report) settleWords() string {
	if rep.Settle <= 0 {
		return ""
	}
	var why []string
	for _, o := range Outputs {
		if o.Linger > 0 && slices.Contains(rep.InUse, o.Name) {
			why = append(why, fmt.Sprintf("%s works on for %v after its last request", o.Label, o.Linger))
		}
	}
	return fmt.Sprintf(" (each A window after %v of TS only not counted: %s)", rep.Settle, strings.Join(why, ", "))
}

// verdict says whether B's windows differ measurably from A's.
func verdict(a, bb []float64) string {
	if len(a) == 0 || len(bb) == 0 {
		return "–"
	}
	if len(a) < 2 {
		return "one A window: no A-vs-A spread to judge by"
	}
	ma, mb := median(a), median(bb)
	s := spread(a)
	apart := slices.Min(bb) > slices.Max(a) || slices.Max(bb) < slices.Min(a)
	if ma > 0 && math.Abs(mb/ma-1) > s && apart {
		if mb > ma {
			return "measurable: B higher"
		}
		return "measurable: B lower"
	}
	return "nothing measurable"
}

func (rep *Report) writeMemory(b *strings.Builder) {
	cfg := rep.Config
	base, ts, all := rep.MemoryOf(MemNoStream), rep.MemoryOf(MemTS), rep.MemoryOf(MemAll)
	if base == nil || ts == nil {
		return
	}
	n := float64(cfg.Channels)
	b.WriteString("## 3. Memory per channel\n\n")
	fmt.Fprintf(b, "The same daemon: after %v with every channel's new segments fetched as TS only, before any packaged output was "+
		"asked for (TS only), and after the "+
		"windows and another %v with every output in use (all outputs: %s), against a daemon with the same `memory` and no stream. "+
		"A channel retains %d segments (%v of media: the playlist's, as many again kept fetchable, the one being written); packaged "+
		"forms are kept with their segment and go with it.\n\n",
		cfg.fill(), cfg.fill(),
		strings.Join(append([]string{"ts"}, rep.InUse...), ", "), Retained(cfg.ChannelSegmentCount), rep.Retention)
	report.TableHead(b, "lrrrrrrrrrrrrr", "moment", "channels", "VmRSS", "RssAnon", "VmHWM", "pool (preallocated)", "slabs held a channel",
		"beyond the pool", "beyond the pool a channel", "Go heap in use", "Go heap in use a channel", "Go heap allocated a channel",
		"GC goal a channel", "packaged bodies held a channel")
	for _, m := range []*Memory{base, ts, all} {
		if m == nil {
			continue
		}
		ch := n
		if m == base {
			ch = 0
		}
		per := func(v, b0 float64) string {
			if ch == 0 {
				return "–"
			}
			return mib((v - b0) / ch)
		}
		held := "–"
		if m == all {
			held = mib(float64(m.PackHeld) / n)
		}
		slabs := "–"
		if ch > 0 {
			slabs = mib(float64(m.Pool-m.PoolFree) / ch)
		}
		fmt.Fprintf(b, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.What, ch,
			mib(float64(m.Mem.VmRSS)), mib(float64(m.Mem.RssAnon)), mib(float64(m.Mem.VmHWM)), mib(float64(m.Pool)), slabs,
			mib(float64(m.BeyondPool())), per(float64(m.BeyondPool()), float64(base.BeyondPool())), mib(m.HeapInuse),
			per(m.HeapInuse, base.HeapInuse), per(m.HeapAlloc, base.HeapAlloc), per(m.NextGC, base.NextGC), held)
	}
	b.WriteString("\nPool: the `memory` slab pool, one anonymous MAP_POPULATE mapping made at start, resident whole from the first " +
		"moment; slabs held: the pool bytes the streams hold (`slabcast_pool_bytes − slabcast_pool_free_bytes`), over N. Beyond the " +
		"pool: VmRSS less the pool; a channel: its growth over the daemon with no stream, over N. Go heap: " +
		"`go_memstats_heap_inuse_bytes` and `go_memstats_heap_alloc_bytes` from /metrics, growth over the daemon with no stream, over N; " +
		"GC goal: `go_memstats_next_gc_bytes`, the heap size at which the next collection starts (GOGC=100: twice the heap live after " +
		"the last one), so half of it is about what was live. VmHWM: the peak resident size. " +
		"Packaged bodies held: the packaged forms the fetcher got for segments still retained, over N: the least the daemon keeps for them.\n")
	for _, m := range []*Memory{ts, all} {
		if m == nil || len(m.HeapSamples) < 2 {
			continue
		}
		var v []string
		for _, x := range m.HeapSamples {
			v = append(v, fmt.Sprintf("%.0f", x/(1<<20)))
		}
		h := len(m.HeapSamples) / 2
		fmt.Fprintf(b, "\n%s: Go heap allocated every segment duration through its fill, MiB: %s (largest in the first half %s, "+
			"in the second %s)\n", m.What, strings.Join(v, ", "), mib(slices.Max(m.HeapSamples[:h])), mib(slices.Max(m.HeapSamples[h:])))
	}
	if all != nil {
		fmt.Fprintf(b, "\nEvery output in use adds **%s a channel** of resident memory beyond the pool (%s with TS only), and %s a "+
			"channel of Go heap in use; the slab pool is the same in both.\n",
			mib((float64(all.BeyondPool())-float64(ts.BeyondPool()))/n), mib((float64(ts.BeyondPool())-float64(base.BeyondPool()))/n),
			mib((all.HeapInuse-ts.HeapInuse)/n))
	}
	b.WriteString("\n")
}

func (rep *Report) writeGoals(b *strings.Builder, loadCores int) {
	b.WriteString("## Goals\n\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Absent != "" {
			fmt.Fprintf(b, "- %v: not measured — %s\n", r.Case, r.Absent)
			continue
		}
		x, ok := r.Ratio()
		if !ok {
			fmt.Fprintf(b, "- %v: no figure for both servers, no ratio\n", r.Case)
			continue
		}
		sb, nb := r.Bounds(Slabcast, rep.GoProcs, loadCores), r.Bounds(Nginx, rep.GoProcs, loadCores)
		runs := len(r.Values(Slabcast, Measure.Cores))
		wrkBound := func(m map[string]int) bool { return m["wrk"]+m["both"] == runs && runs > 0 }
		sp := max(r.Spread(Nginx), r.Spread(Slabcast))
		var cond string
		switch {
		case wrkBound(sb) && wrkBound(nb):
			cond = "both servers' runs were bound by wrk's core: the ratio measures wrk, not the servers, and says nothing " +
				"about the goal; compare CPU per Gbit instead"
		case x >= Goal:
			cond = report.Met(true)
		case 1-x <= sp:
			cond = fmt.Sprintf("not met by the figure, but the shortfall is within the A-vs-A spread of %s: no measurable difference", pct(sp))
		default:
			cond = report.Met(false)
			if !wrkBound(sb) && sb["server"]+sb["both"] > 0 {
				cond += "; slabcast's core was full: its CPU per request bounds it"
			}
		}
		switch {
		case wrkBound(sb) && wrkBound(nb):
		case wrkBound(sb):
			cond += "; slabcast's runs were bound by wrk's core, not its own: its figure is a floor"
		case wrkBound(nb):
			cond += "; nginx's runs were bound by wrk's core, not its own: its figure is a floor"
		}
		cond += fmt.Sprintf("; runs bound by — slabcast: %s; nginx: %s", boundWords(sb), boundWords(nb))
		sc, nc := median(r.Values(Slabcast, Measure.CPUPerGbit)), median(r.Values(Nginx, Measure.CPUPerGbit))
		cpu := ""
		if nc > 0 {
			cpu = fmt.Sprintf("; slabcast's CPU per Gbit %.3f× nginx's", sc/nc)
		}
		if r.Case.Manifest {
			fmt.Fprintf(b, "- %v: no goal (for information) — %.3f× nginx's requests/s (%s)%s\n", r.Case, x, cond, cpu)
			continue
		}
		fmt.Fprintf(b, "- %v: at least %.1f× nginx's requests/s — %.3f× (%s)%s; A-vs-A spread nginx %s, slabcast %s\n",
			r.Case, Goal, x, cond, cpu, pct(r.Spread(Nginx)), pct(r.Spread(Slabcast)))
	}
	if per, _, ok := rep.PackagingCost(rep.AllSet()); ok {
		var each []string
		for _, set := range rep.Sets() {
			if p, _, ok := rep.PackagingCost(set); ok && set != rep.AllSet() {
				each = append(each, fmt.Sprintf("%s alone %.3f", set, p))
			}
		}
		alone := ""
		if len(each) > 0 {
			alone = "; " + strings.Join(each, ", ")
		}
		fmt.Fprintf(b, "- CPU per packaged Gbit/s: no goal set — %.3f cores per Gbit/s of TS packaged into %s (%s)%s\n", per,
			strings.Join(rep.InUse, ", "), verdict(rep.windowValues("", Window.Cores), rep.windowValues(rep.AllSet(), Window.Cores)), alone)
	} else if rep.Config.Channels > 0 {
		b.WriteString("- CPU per packaged Gbit/s: not measured — no packaged output in use\n")
	}
	base, ts, all := rep.MemoryOf(MemNoStream), rep.MemoryOf(MemTS), rep.MemoryOf(MemAll)
	if base != nil && ts != nil && all != nil && rep.Config.Channels > 0 {
		n := float64(rep.Config.Channels)
		fmt.Fprintf(b, "- Memory per channel with all outputs in use: no goal set — %s beyond the pool a channel (TS only: %s), "+
			"plus %s of slabs a channel in the pool\n",
			mib((float64(all.BeyondPool())-float64(base.BeyondPool()))/n), mib((float64(ts.BeyondPool())-float64(base.BeyondPool()))/n),
			mib(float64(all.Pool-all.PoolFree)/n))
	}
}
