package delivery

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/clip"
	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/bench/internal/report"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

// WriteMarkdown writes the results file: the machine, the command, the
// table of figures and ratios, one line per goal, the caveats.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	loadCores, _ := proc.CountCPUs(cfg.LoadCPUs)
	rep.Header(&b, "HLS delivery: slabcast against nginx", "Issue 5, item 3: requests/s and Gbit/s for the same live segments and playlists, "+
		"fetched with wrk at "+fmt.Sprint(cfg.Connections)+" connections, from slabcast and from nginx "+
		"serving identical bytes from tmpfs with sendfile.", rep.Nginx, rep.Wrk)
	pin := "unpinned"
	if cfg.ServerCPUs != "" {
		pin = fmt.Sprintf("both servers pinned with taskset to CPU %s, wrk (and the feeders) to CPU %s", cfg.ServerCPUs, cfg.LoadCPUs)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace. slabcast (`go build ./cmd/slabcast`, config `cpus %s;`, "+
		"Go runtime on %d core(s)) with %d stream(s), segment_duration %d, segment_count %d, each fed over "+
		"multicast on lo by `slabcast feed --loop` with a clip encoded on the fly (%s; %.2f Mbit/s "+
		"measured at slabcast's input). Once every playlist lists %d segments, each case takes a fresh "+
		"snapshot: the playlists and the segments they list are downloaded from slabcast and written with "+
		"the same URL layout into a directory on /dev/shm (tmpfs), which nginx (worker_processes %d, "+
		"sendfile on, tcp_nopush on, access_log off, open_file_cache, keepalive_requests unlimited, the "+
		"same Cache-Control and CORS headers) serves; every segment is checked byte for byte against "+
		"slabcast's before nginx is measured. slabcast is measured first on each snapshot, live (still "+
		"ingesting), so its figures include its ingest. %s. wrk: `-c %d -t %d -d %s --latency`, a Lua "+
		"script rotating over the case's URLs. Cases: segments only; one playlist per %d segment(s); "+
		"playlists only.\n\n",
		report.OrUnknown(cfg.ServerCPUs), rep.GoProcs, cfg.Streams, cfg.SegmentDuration, cfg.SegmentCount,
		clip.FeedRecipe, rep.Input/1e6, cfg.SegmentCount, rep.Workers, pin, cfg.Connections, cfg.Threads, cfg.Duration, cfg.Mix)

	if len(cfg.Env) > 0 {
		fmt.Fprintf(&b, "slabcast ran with `%s` added to its environment (an experiment, not the default).\n\n", strings.Join(cfg.Env, " "))
	}
	report.TableHead(&b, "llrrrrrrrrrrrrrr", "case", "server", "requests/s", "Gbit/s", "× nginx req/s", "× nginx Gbit/s", "latency p50 ms", "p99 ms",
		"server CPU s", "cores", "CPU s per Gbit", "µs CPU per request", "server core busy", "wrk core busy", "header bytes", "errors")
	for i := range rep.Results {
		r := &rep.Results[i]
		rr, gr, ok := r.Ratios()
		for _, x := range r.Measures {
			l := x.Load
			xr, xg := "–", "–"
			if x.Server == Slabcast && ok {
				xr, xg = fmt.Sprintf("%.2f", rr), fmt.Sprintf("%.2f", gr)
			}
			perGbit, perReq := "–", "–"
			if bits := float64(l.Bytes) * 8 / 1e9; bits > 0 {
				perGbit = fmt.Sprintf("%.3f", x.CPU.Seconds()/bits)
			}
			if l.Requests > 0 {
				perReq = fmt.Sprintf("%.1f", x.CPU.Seconds()*1e6/float64(l.Requests))
			}
			sb, lb := x.Busy(rep.GoProcs, loadCores)
			fmt.Fprintf(&b, "| %v | %v | %.0f | %.2f | %s | %s | %s | %s | %.2f | %.2f | %s | %s | %.2f | %.2f | %s | %d |\n",
				r.Case, x.Server, l.RPS(), l.Gbps(), xr, xg, ms(l.P50), ms(l.P99), x.CPU.Seconds(), x.Cores(),
				perGbit, perReq, sb, lb, header(r, &x), l.Errors())
		}
	}
	b.WriteString("\n")
	b.WriteString("Gbit/s counts response bytes, headers included, over wrk's run. Server CPU: user+system " +
		"time from /proc/PID/stat over the run (slabcast's process, ingest included; nginx's master and " +
		"workers), 10 ms resolution; cores is that per second. Core busy: the share of the pinned core's " +
		"time not idle (/proc/stat), which adds the kernel's loopback TCP work done in softirq outside " +
		"the server's own accounting. Header bytes: response bytes per request less the mean body of the rotation (shown for small bodies only; nginx also sends Date, Last-Modified, ETag and Accept-Ranges, so its wire Gbit/s counts more header per playlist). Errors: wrk's connect, read, write, timeout and non-2xx answers.\n\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		fmt.Fprintf(&b, "- %v: %d URLs in rotation; snapshot of %d segment(s), %.2f MB mean, playlists %d bytes\n",
			r.Case, len(r.Paths), r.Segs, float64(r.SegBytes)/float64(max(1, r.Segs))/1e6, r.PlBytes)
	}
	b.WriteString("\n## Goals\n\n")
	b.WriteString("Both servers send the same bodies for the same URLs, so the payload Gbit/s ratio is the " +
		"requests/s ratio; the wire ratio (headers included) differs by the header sizes above. The goal is " +
		"judged on requests/s.\n\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		rr, gr, ok := r.Ratios()
		if !ok {
			fmt.Fprintf(&b, "- %v: no nginx figure, no ratio\n", r.Case)
			continue
		}
		fmt.Fprintf(&b, "- %v: at least %.1f× nginx — requests/s %.2f× (%s)%s; Gbit/s on the wire %.2f×\n",
			r.Case, Goal, rr, report.Met(rr >= Goal), rep.bound(r, loadCores), gr)
	}
	b.WriteString("\n## Caveats\n\n")
	b.WriteString("- Two cores: wrk and the servers each get one, so wrk may bound a case rather than the " +
		"server; the core-busy columns say which core was full. Loopback TCP's kernel work (the copy " +
		"into the receiver's socket) is shared between both cores' accounting and is the same for both servers.\n")
	b.WriteString("- Runs follow each other, not at once: other work on the machine in one run and not " +
		"the other moves a ratio; differences within about 10% are inside that noise.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// header is the mean header size of m's responses, shown only where
// bodies are small: with megabyte bodies the bytes of responses cut off at
// the end of wrk's run outweigh the headers.
func header(r *Result, m *Measure) string {
	if r.Body > 64<<10 {
		return "–"
	}
	return fmt.Sprintf("%.0f", r.Header(m))
}

// bound says what limited a case that missed its goal: the server's core
// full, wrk's core full, or neither.
func (rep *Report) bound(r *Result, loadCores int) string {
	rr, _, _ := r.Ratios()
	if rr >= Goal {
		return ""
	}
	s := r.Measure(Slabcast)
	if s == nil {
		return ""
	}
	sb, lb := s.Busy(rep.GoProcs, loadCores)
	switch {
	case s.Cores() >= 0.9 || sb >= proc.Full:
		return fmt.Sprintf("; slabcast's core was full (process %.2f cores, core busy %.2f): its CPU per request bounds it", s.Cores(), sb)
	case lb >= proc.Full:
		return fmt.Sprintf("; wrk's core was full (%.2f) while slabcast's was not (%.2f): bounded by the load generator and latency", lb, sb)
	}
	return fmt.Sprintf("; neither core was full (slabcast %.2f, wrk %.2f): bounded by latency (p99 %s ms)", sb, lb, ms(s.Load.P99))
}
