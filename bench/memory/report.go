package memory

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// WriteMarkdown writes the results file: the machine, the command, the
// table with each case's figures and ratios, the goal line, the quoted
// allocation tests.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	win := cfg.Window()
	rep.Header(&b, "Memory", "Issue 5, item 6: slabcast's resident memory per channel against bitrate × window, and allocations per packet.")
	fmt.Fprintf(&b, "\nSetup: a private network namespace; one slabcast daemon per case with `cpus %d;` under `taskset -c %d`, "+
		"N streams with `segment_duration %v; segment_count %d;`, so each stream retains %d segments (the playlist's %d, "+
		"as many again fetchable after they leave it, and the one being written): a window of %v of media. `memory` is "+
		"1.5 × N × bitrate × window + 32 MiB (column pool). A sendmmsg sender pinned to CPU %d sends every channel its "+
		"clip's rate (testsrc2 720p25, H.264 CBR, a keyframe a second, AAC, looped without a seam) for %v, which fills "+
		"every window, and on for a %v window with traffic; resident memory (/proc/PID/status) is read at the end, "+
		"the pool's use from the daemon's /metrics (`slabcast_pool_bytes - slabcast_pool_free_bytes`).\n\n",
		cfg.ReceiverCPU, cfg.ReceiverCPU, cfg.SegmentDuration, cfg.SegmentCount, Retained(cfg.SegmentCount), cfg.SegmentCount,
		win, cfg.SenderCPU, fillOf(rep), cfg.Idle)

	report.TableHead(&b, "rrrrrrrrrrrrrr", "R, Mbit/s", "N", "pool (preallocated)", "VmRSS", "RssAnon", "RssFile", "RssShmem", "slabs held a channel",
		"bitrate × window", "× bitrate × window", "beyond the pool", "beyond the pool a channel", "Go heap in use", "mallocs / TS packet")
	base := rep.Base
	fmt.Fprintf(&b, "| – | 0 | %s | %s | %s | %s | %s | – | – | – | %s | – | %s | – |\n",
		mibs(base.Pool), mibs(base.Mem.VmRSS), mibs(base.Mem.RssAnon), mibs(base.Mem.RssFile), mibs(base.Mem.RssShmem),
		mibs(base.BeyondPool()), mibs(int64(base.HeapInuse)))
	for _, r := range rep.Results {
		exp := r.Expected(win)
		per := float64(r.BeyondPool()-base.BeyondPool()) / float64(r.Case.N)
		fmt.Fprintf(&b, "| %.2f | %d | %s | %s | %s | %s | %s | %.2f MiB | %.2f MiB | %.2f | %s | %.0f KiB | %s | %s |\n",
			r.Mbps, r.Case.N, mibs(r.Pool), mibs(r.Mem.VmRSS), mibs(r.Mem.RssAnon), mibs(r.Mem.RssFile), mibs(r.Mem.RssShmem),
			r.HeldPerChannel()/(1<<20), exp/(1<<20), ratio(r.HeldPerChannel(), exp), mibs(r.BeyondPool()), per/1024,
			mibs(int64(r.HeapInuse)), fmt.Sprintf("%.5f", r.MallocsPerPacket()))
	}
	b.WriteString("\nPool: the `memory` slab pool, one anonymous MAP_POPULATE mapping made at start, so all of it is " +
		"resident (in RssAnon) from the first moment, with or without streams; VmRSS includes it. Slabs held a channel: " +
		"the pool bytes the streams hold, over N, once every window is full; × bitrate × window is that against the " +
		"media bytes the window covers (chunks are 1024 TS packets, so each segment ends in a partly filled one). " +
		"Beyond the pool: VmRSS less the pool (the binary, Go heap and stacks, sockets' user-side buffers); a channel: " +
		"its growth over the daemon with no stream, over N. mallocs / TS packet: the Go runtime's allocation count " +
		"(`go_memstats_mallocs_total` from /metrics) over a window with traffic, less that of an equal window without " +
		"traffic on the same daemon (timers and the /metrics scrapes themselves allocate), over the TS packets received " +
		"in the window.\n\n")

	report.TableHead(&b, "rrrrrrrrrrr", "R, Mbit/s", "N", "datagrams in the window", "TS packets", "segments cut in the window", "mallocs, traffic window",
		"mallocs, idle window", "mallocs / segment cut", "segments, whole run", "datagrams lost (whole run)", "kernel drops")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "| %.2f | %d | %d | %d | %d | %d | %d | %.1f | %d | %d | %d |\n", r.Mbps, r.Case.N, r.Datagrams, r.Packets,
			r.WindowSegments, r.Mallocs, r.IdleMallocs, r.MallocsPerSegment(), r.Segments, r.Lost, r.KernelDrops)
	}
	b.WriteString("\n")

	b.WriteString("## Goals\n\n")
	worstHeld, worstAlloc := 0.0, 0.0
	for _, r := range rep.Results {
		worstHeld = max(worstHeld, ratio(r.HeldPerChannel(), r.Expected(win)))
		worstAlloc = max(worstAlloc, r.MallocsPerPacket())
	}
	// A channel's slabs should come to about bitrate × window: chunk
	// rounding adds at most one chunk per segment.
	fmt.Fprintf(&b, "- Resident memory per channel follows bitrate × window: slab memory held is at most %.2f × bitrate × window "+
		"across the cases (%s: within 1.5×, the headroom `memory` is sized with); the pool itself is fixed at start and "+
		"does not grow with traffic\n", worstHeld, report.Met(worstHeld > 0 && worstHeld <= 1.5))
	var minSeg, maxSeg float64
	for i, r := range rep.Results {
		if i == 0 {
			minSeg, maxSeg = r.MallocsPerSegment(), r.MallocsPerSegment()
		}
		minSeg, maxSeg = min(minSeg, r.MallocsPerSegment()), max(maxSeg, r.MallocsPerSegment())
	}
	allocLine := "- Allocations per packet: 0 — "
	switch {
	case rep.AllocTests == "" && rep.AllocTestsErr == "":
		allocLine += "the pipeline's AllocsPerRun tests were not run (not shown)"
	case rep.AllocTestsErr != "":
		allocLine += "the pipeline's AllocsPerRun tests FAILED (" + rep.AllocTestsErr + ") (not met)"
	default:
		allocLine += "the pipeline's AllocsPerRun tests pass, 0 per datagram and 0 per recvmmsg batch (below) (met)"
	}
	allocLine += fmt.Sprintf(". On the running daemon, what traffic adds to its idle allocation rate is %.5f per TS packet at most, "+
		"and %.1f–%.1f per segment cut across the cases: the same per cut at every rate while the packets per cut differ "+
		"almost fourfold, so those allocations come with segment cuts (playlist and segment bookkeeping, once a "+
		"segment_duration per stream), not with packets", worstAlloc, minSeg, maxSeg)
	b.WriteString(allocLine + "\n\n")

	if rep.AllocTests != "" {
		b.WriteString("`go test -count=1 -v -run '^(TestIngestAllocations|TestWorkerReadAllocations)$' ./pipeline` " +
			"(TestIngestAllocations: parse and splice of one datagram, testing.AllocsPerRun; TestWorkerReadAllocations: " +
			"a worker's whole receive path per recvmmsg batch, commit and wake-ups included):\n\n")
		for line := range strings.Lines(rep.AllocTests) {
			fmt.Fprintf(&b, "    %s", line)
		}
		b.WriteString("\n\n")
	}

	b.WriteString("## Caveats\n\n")
	b.WriteString("- VmRSS counts the pool whole from start: read a headend's memory as pool + beyond the pool, and size " +
		"`memory` for the channels' windows (README: about 2 × segment_count + 1 segments a stream).\n")
	b.WriteString("- The windows here are short (1 s segments) so that they fill within seconds; slab memory scales " +
		"with the window, and with longer segments the partly filled last chunk of each segment weighs less.\n")
	lost := uint64(0)
	for _, r := range rep.Results {
		lost += r.Lost
	}
	if lost > 0 {
		b.WriteString("- Datagrams lost over the whole run (column above) include any sent before a stream had joined; " +
			"loss is the channels benchmark's subject, not this one's.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fillOf(rep *Report) time.Duration {
	if len(rep.Results) > 0 {
		return rep.Results[0].Fill
	}
	c := rep.Config
	return c.Window() + 2*c.SegmentDuration + time.Second
}

func mibs(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
