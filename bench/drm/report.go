package drm

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

// perGbit turns nanoseconds per byte into the cores one Gbit/s keeps busy:
// 1 Gbit/s is 1.25e8 bytes a second.
func perGbit(nsPerByte float64) float64 { return nsPerByte * 1.25e8 / 1e9 }

// encryptNsPerByte returns BenchmarkEncryptSegment's ns/byte; ok false if
// it did not run.
func (rep *Report) encryptNsPerByte() (float64, bool) {
	m := rep.micro("BenchmarkEncryptSegment")
	if m == nil {
		return 0, false
	}
	v, ok := m.Metrics["ns/byte"]
	return v, ok
}

// ingestNsPerByte returns an ingest benchmark's ns per TS byte.
func (rep *Report) ingestNsPerByte(name string) (float64, bool) {
	m := rep.micro(name)
	if m == nil {
		return 0, false
	}
	v, ok := m.Metrics["ns/packet"]
	return v / 188, ok
}

// WriteMarkdown writes the results file: the machine, the command, the
// delivery runs and their ratios, the encryption CPU figures, the goals
// and the caveats.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	loadCores, _ := proc.CountCPUs(cfg.LoadCPUs)
	rep.Header(&b, "Content protection: AES-128 HLS against cleartext",
		"Issue 11: HLS delivery of encrypted segments against the same segments in the clear (goal: within 5 %, since "+
			"encryption happens once per segment, when it closes), and the CPU cost of encryption per Gbit/s of ingest.",
		rep.Wrk)
	pin := "unpinned"
	if cfg.ServerCPUs != "" {
		pin = fmt.Sprintf("slabcast pinned with taskset to CPU %s, wrk and the feeder to CPU %s", cfg.ServerCPUs, cfg.LoadCPUs)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace. One slabcast (config `cpus %s;`, Go runtime on %d core(s)) takes "+
		"one multicast feed (`slabcast feed --loop` of a clip encoded on the fly: %s; %.2f Mbit/s measured at slabcast's "+
		"input) into two streams, `%s` and `%s`, segment_duration %d, segment_count %d: the same media cut at the same "+
		"keyframes. `%s` has `drm aes128 keyserver=…` with a key server in the benchmark's process (one key, "+
		"md5(file+number); it answered %d request(s)); its first segment is checked to be ciphertext that decrypts to TS "+
		"with that key and IV = MSN before anything is measured. %s. Per case, after one uncounted warm-up run, %d pair(s) of wrk runs "+
		"(`-c %d -t %d -d %s --latency`, bench/delivery's script rotating over the URLs), clear and encrypted in "+
		"alternating order (A B, B A, …) so drift falls on both; each pair takes a fresh snapshot of both playlists at once. "+
		"Both streams are ingested throughout, so every run's server CPU includes the ingest of both.\n\n",
		report.OrUnknown(cfg.ServerCPUs), rep.GoProcs, clip.FeedRecipe, rep.Input/1e6, Clear, Encrypted,
		cfg.SegmentDuration, cfg.SegmentCount, Encrypted, rep.KeyRequests, pin, cfg.Pairs, cfg.Connections, cfg.Threads, cfg.Duration)

	b.WriteString("## Delivery\n\n")
	report.TableHead(&b, "lllrrrrrrrrrrrrr", "case", "stream", "pair", "requests/s", "Gbit/s", "latency p50 ms", "p99 ms",
		"server CPU s", "cores", "CPU s per Gbit", "µs CPU per request", "server core busy", "wrk core busy", "URLs", "mean body bytes", "errors")
	for i := range rep.Results {
		r := &rep.Results[i]
		for _, x := range r.Measures {
			l := x.Load
			pg, pr := "–", "–"
			if bits := float64(l.Bytes) * 8 / 1e9; bits > 0 {
				pg = fmt.Sprintf("%.3f", x.CPU.Seconds()/bits)
			}
			if l.Requests > 0 {
				pr = fmt.Sprintf("%.1f", x.CPU.Seconds()*1e6/float64(l.Requests))
			}
			sb, lb := busy(x.ServerBusy, x.Wall, rep.GoProcs), busy(x.LoadBusy, x.Wall, loadCores)
			fmt.Fprintf(&b, "| %v | %s | %d | %.0f | %.2f | %s | %s | %.2f | %.2f | %s | %s | %.2f | %.2f | %d | %.0f | %d |\n",
				r.Case, x.Stream, x.Pair+1, l.RPS(), l.Gbps(), ms(l.P50), ms(l.P99), x.CPU.Seconds(), x.Cores(), pg, pr, sb, lb,
				x.URLs, x.Body, l.Errors())
		}
	}
	b.WriteString("\nGbit/s counts response bytes, headers included. Server CPU: slabcast's user+system time from " +
		"/proc/PID/stat over the run (10 ms resolution), its ingest of both streams included; cores is that per second. " +
		"Core busy: the share of the pinned core's time not idle (/proc/stat), the kernel's loopback TCP work included. " +
		"Errors: wrk's connect, read, write, timeout and non-2xx answers.\n\n")
	report.TableHead(&b, "lrrrrrrllrrr", "case", "clear requests/s (median)", "encrypted requests/s (median)", "× clear requests/s",
		"clear Gbit/s (median)", "encrypted Gbit/s (median)", "× clear Gbit/s", "× clear Gbit/s by pair", "clear A-vs-A spread",
		"clear CPU s per Gbit (median)", "encrypted CPU s per Gbit (median)", "× clear CPU per Gbit")
	for i := range rep.Results {
		r := &rep.Results[i]
		cr, cg := r.Median(Clear)
		er, eg := r.Median(Encrypted)
		rr, gr, ok := r.Ratios()
		xr, xg := "–", "–"
		if ok {
			xr, xg = fmt.Sprintf("%.3f", rr), fmt.Sprintf("%.3f", gr)
		}
		var pairs []string
		for _, p := range r.PairRatios() {
			pairs = append(pairs, fmt.Sprintf("%.3f", p))
		}
		cc, ec := r.MedianCPUPerGbit(Clear), r.MedianCPUPerGbit(Encrypted)
		xc := "–"
		if cc > 0 {
			xc = fmt.Sprintf("%.3f", ec/cc)
		}
		fmt.Fprintf(&b, "| %v | %.0f | %.0f | %s | %.2f | %.2f | %s | %s | %.1f %% | %.4f | %.4f | %s |\n",
			r.Case, cr, er, xr, cg, eg, xg, strings.Join(pairs, ", "), r.Spread()*100, cc, ec, xc)
	}

	b.WriteString("\n## Encryption CPU\n\n")
	if len(rep.Micro) == 0 {
		b.WriteString("The Go benchmarks were not run.\n")
	} else {
		fmt.Fprintf(&b, "The pipeline's own Go benchmarks, `%s`; the median of each figure over the runs.\n\n", rep.MicroCommand)
		report.TableHead(&b, "lrrrrrr", "Go benchmark", "runs", "ns/op", "MB/s", "ns/packet", "ns/byte", "cores per Gbit/s")
		for _, m := range rep.Micro {
			nsb, pkt := "–", "–"
			var v float64
			var have bool
			switch m.Name {
			case "BenchmarkEncryptSegment":
				v, have = rep.encryptNsPerByte()
			default:
				v, have = rep.ingestNsPerByte(m.Name)
				if p, ok := m.Metrics["ns/packet"]; ok {
					pkt = fmt.Sprintf("%.1f", p)
				}
			}
			cores := "–"
			if have {
				nsb, cores = fmt.Sprintf("%.3f", v), fmt.Sprintf("%.3f", perGbit(v))
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.1f | %s | %s | %s |\n", m.Name, m.Runs, m.NsPerOp, m.MBps, pkt, nsb, cores)
		}
		b.WriteString("\nBenchmarkEncryptSegment: a drm segment's encryption when it closes (key lookup, cipher, PKCS7 padding, " +
			"AES-128-CBC in place over its slab chunks), 1 MB a segment (2 s at 4 Mbit/s); ns/byte is ns/op over the segment's " +
			"bytes. BenchmarkIngest and BenchmarkIngestDRM: the receive path per TS packet (parse, health, PSI, keyframes, " +
			"slab splice, cuts) over the committed 790 kbit/s clip, without and with drm (each segment encrypted when it " +
			"closes). Cores per Gbit/s = ns/byte × 1.25e8 bytes/s ÷ 1e9.\n")
		if enc, ok := rep.encryptNsPerByte(); ok {
			fmt.Fprintf(&b, "\nEncryption costs **%.3f cores per Gbit/s of ingest** (%.2f ns/byte, %.0f MB/s on one core)", perGbit(enc), enc, 1e3/enc)
			if clear, ok1 := rep.ingestNsPerByte("BenchmarkIngest"); ok1 {
				if withDRM, ok2 := rep.ingestNsPerByte("BenchmarkIngestDRM"); ok2 && clear > 0 {
					fmt.Fprintf(&b, "; the whole receive path goes from %.3f to %.3f cores per Gbit/s with it (× %.2f)",
						perGbit(clear), perGbit(withDRM), withDRM/clear)
				}
			}
			b.WriteString(".\n")
		}
	}

	b.WriteString("\n## Goals\n\n")
	for i := range rep.Results {
		r := &rep.Results[i]
		rr, gr, ok := r.Ratios()
		switch {
		case !ok:
			fmt.Fprintf(&b, "- %v: no figure for both streams, no ratio\n", r.Case)
		case r.Case == Segments:
			cpu := ""
			if cc := r.MedianCPUPerGbit(Clear); cc > 0 {
				cpu = fmt.Sprintf("; slabcast's CPU per Gbit sent %.3f× cleartext's", r.MedianCPUPerGbit(Encrypted)/cc)
			}
			verdict := report.Met(gr >= Goal)
			if gr < Goal && 1-gr <= r.Spread() {
				verdict = fmt.Sprintf("not met by the figure, but the shortfall is within the clear-vs-clear spread of %.1f %%: no measurable difference", r.Spread()*100)
			}
			fmt.Fprintf(&b, "- %v: encrypted delivery within 5 %% of cleartext (at least %.2f×) — Gbit/s %.3f× (%s); requests/s %.3f×%s; clear A-vs-A spread %.1f %%\n",
				r.Case, Goal, gr, verdict, rr, cpu, r.Spread()*100)
		default:
			fmt.Fprintf(&b, "- %v: no goal (for information) — encrypted playlists %.3f× cleartext's requests/s\n", r.Case, rr)
		}
	}
	if enc, ok := rep.encryptNsPerByte(); ok {
		fmt.Fprintf(&b, "- encryption's CPU per Gbit/s of ingest: no goal set — %.3f cores per Gbit/s\n", perGbit(enc))
	}
	b.WriteString("\n## Caveats\n\n")
	b.WriteString("- Two cores on a shared VM: wrk and slabcast each get one, so wrk may bound a case rather than the server " +
		"(the core-busy columns say which core was full); the clear-vs-clear spread says how far the same measure moves from run to run, " +
		"and a ratio within it is no difference.\n")
	b.WriteString("- An encrypted segment is its cleartext plus 1 to 16 bytes of PKCS7 padding: Gbit/s and requests/s differ by that share (under 0.002 % at these sizes).\n")
	b.WriteString("- A drm stream's playlist, EXT-X-KEY lines and all, is rendered once per timeline and served from memory, as a clear stream's is; " +
		"only a request with a ?token= (on_play) gets one rendered for it. The playlists case shows they cost the same.\n")
	b.WriteString("- The encryption figure is Go's crypto/aes AES-128-CBC (sequential by nature: each block needs the one before), on one core; " +
		"the daemon pays it on the stream's receive worker once per segment, at the segment's close.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// busy is a core-busy time per second of wall per core.
func busy(d, wall time.Duration, cores int) float64 {
	if wall <= 0 || cores <= 0 || d <= 0 {
		return 0
	}
	return d.Seconds() / wall.Seconds() / float64(cores)
}
