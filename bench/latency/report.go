package latency

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// ms formats d in milliseconds, three decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// WriteMarkdown writes the results file: the machine, the command, the
// setup, one table per latency with the ratios to the goal and to the bare
// relay, and one line per goal.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	rep.Header(&b, "Latency: segment to playlist, datagram to /mpegts", "Issues 5 (item 5) and 8: (a) from the arrival of the datagram that completes a segment to that segment "+
		"being listed in the playlist served over HTTP, and (b) from the arrival of a datagram to its bytes "+
		"leaving on `/NAME/mpegts`, against a bare UDP-to-HTTP relay (udpxy's core) as the floor. "+
		"Goal: p99 under "+Goal.String()+" for both, for a lone stream and for one of 200 channels.")
	period, rtt := time.Duration(0), time.Duration(0)
	for _, r := range rep.Results {
		period, rtt = max(period, r.PollPeriod.P50), max(rtt, r.PollRTT.P50)
	}
	fmt.Fprintf(&b, "\nSetup: a private network namespace. The daemon under test is the built `slabcast` binary "+
		"(`slabcast run`), the whole process confined to CPU %d with `taskset` (its runtime sees one CPU), "+
		"config `cpus %d;`, `memory` 256M plus 4M a background channel, and one stream per clip with `segment_duration %s; segment_count 6;`. "+
		"Clips: testsrc2 1280×720 at 24 fps, H.264 CBR (filler NAL units, no null packets) with a keyframe "+
		"every %d frames, so every keyframe cuts a segment, plus AAC; 10 s looped without a seam. "+
		"The sender, on a thread pinned to CPU %d, sends one 7 × 188-byte datagram per send(2), paced by the "+
		"clip's PCR, and stamps each with CLOCK_MONOTONIC just before the call: on lo the kernel puts the "+
		"datagram in the receiving socket's queue inside that call, so the stamp is its arrival (plus the "+
		"kernel's few microseconds of UDP delivery, which any receiver pays). The observers run in the "+
		"same process on CPU %d, each on a thread of its own doing blocking system calls (no Go scheduler "+
		"in the measured path; every other thread of the benchmark process is kept on that core too): a client of `/NAME/mpegts`, and a poller asking for `/NAME/index.m3u8` on "+
		"a keep-alive connection with a %v pause between answers (achieved: a request every %s ms at the "+
		"median, %s ms round trip). The two run together, as a headend serves both.\n\n",
		cfg.DaemonCPU, cfg.DaemonCPU, strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", cfg.SegmentDuration.Seconds()), "0"), "."),
		cfg.GOP, cfg.SenderCPU, cfg.SenderCPU, cfg.PollInterval, ms(period), ms(rtt))
	for _, r := range rep.Results {
		if r.Clip.Background == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: the same measurement while the daemon takes in %d more channels of %d Mbit/s "+
			"(239.10.x.y, on the measured stream's port, so they share its socket and its worker: %.2f Gbit/s in all, "+
			"%d datagrams in the window), sent by a second sender thread on CPU %d that sleeps through its waits, "+
			"so that it leaves the observers their core (it sends about a millisecond of every channel at a time). "+
			"The bare relay's row beside it is measured without them.\n\n",
			r.Clip.Name, r.Clip.Background, BackgroundMbps, r.BackgroundGbps, r.BackgroundSent, cfg.SenderCPU)
	}
	if len(cfg.DaemonEnv) > 0 {
		fmt.Fprintf(&b, "The daemon ran with `%s` in its environment.\n\n", strings.Join(cfg.DaemonEnv, " "))
	}
	fmt.Fprintf(&b, "(a) The datagram that completes segment n is the one carrying the first packet of the next "+
		"keyframe's PES (slabcast cuts when its keyframe scanner decides, at that packet); the latency is the "+
		"time the first playlist answer listing the segment was read, minus that datagram's send time. It "+
		"includes up to one poll period of waiting (the resolution above). Each appearance is attributed to "+
		"the last keyframe datagram sent before it and checked: its EXTINF must equal the PTS distance between "+
		"that keyframe and the previous one.\n\n")
	fmt.Fprintf(&b, "(b) Bytes are matched by content, not counted: each datagram's marker is its last packet on an "+
		"elementary PID of the program (slabcast forwards those unchanged; the PAT and PMT it repeats at each "+
		"segment start are never markers), and the latency is the time the client's read that brought the "+
		"marker returned, minus the datagram's send time. Markers whose bytes were sent more than once in a "+
		"phase (CBR filler packets repeat every 16 continuity counts) are left out. The bare relay is one "+
		"thread pinned to CPU %d: a blocking recv of each datagram and a blocking send of it to the TCP "+
		"connection, nothing else. "+
		"Samples are taken over %v of sending against slabcast and %v against the relay, after %v of warm-up "+
		"(the client's first burst, the live segment so far, is not counted).\n\n",
		cfg.DaemonCPU, cfg.Window, cfg.RelayWindow, cfg.Warmup)

	b.WriteString("## (b) Datagram to /mpegts\n\n")
	report.TableHead(&b, "lrlrrrrrrrr", "clip", "Mbit/s", "server", "samples", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 ÷ goal", "p50 × relay", "p99 × relay")
	for _, r := range rep.Results {
		mb := fmt.Sprintf("%.2f", r.Bitrate/1e6)
		row := func(server string, d Dist) {
			px, p99x := "1.00", "1.00"
			if server != "bare relay" {
				px, p99x = ratio(d.P50, r.Relay.P50), ratio(d.P99, r.Relay.P99)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n",
				r.Clip.Name, mb, server, d.N, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max), ratio(d.P99, Goal), px, p99x)
		}
		row("bare relay", r.Relay)
		row("slabcast", r.MPEGTS)
	}
	b.WriteString("\n")

	b.WriteString("## (a) Keyframe datagram to playlist\n\n")
	report.TableHead(&b, "lrrrrrrrrrr", "clip", "Mbit/s", "segments", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 ÷ goal",
		"poll period p50 / p99 ms", "poll round trip p50 ms", "EXTINF checks passed")
	for _, r := range rep.Results {
		d := r.Playlist
		fmt.Fprintf(&b, "| %s | %.2f | %d | %s | %s | %s | %s | %s | %s / %s | %s | %d of %d |\n",
			r.Clip.Name, r.Bitrate/1e6, d.N, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max), ratio(d.P99, Goal),
			ms(r.PollPeriod.P50), ms(r.PollPeriod.P99), ms(r.PollRTT.P50), r.Consistent, d.N)
	}
	b.WriteString("\n")
	if len(rep.Results) > 0 {
		fmt.Fprintf(&b, "With %d segments a clip, p99 is the largest sample or next to it: read it as an upper figure. "+
			"Half a poll period (about %s ms) of it, on average, is the poller's waiting.\n\n", rep.Results[0].Playlist.N, ms(period/2))
	}

	b.WriteString("## Goals\n\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "- %s, (a) playlist p99 %s ms under %v: %s\n", r.Clip.Name, ms(r.Playlist.P99), Goal, report.Met(r.Playlist.N > 0 && r.Playlist.P99 < Goal))
		fmt.Fprintf(&b, "- %s, (b) /mpegts p99 %s ms under %v: %s (bare relay %s ms)\n", r.Clip.Name, ms(r.MPEGTS.P99), Goal,
			report.Met(r.MPEGTS.N > 0 && r.MPEGTS.P99 < Goal), ms(r.Relay.P99))
	}
	b.WriteString("\n")

	b.WriteString("## Checks\n\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "- %s: %d datagrams sent in slabcast's window, at most %s ms after the PCR said; markers never read: %d from slabcast, %d from the relay; "+
			"segments whose keyframe another segment had claimed: %d; playlist requests in the window: %d.\n",
			r.Clip.Name, r.Datagrams, ms(r.SendLate), r.MissingMPEGTS, r.MissingRelay, r.Ambiguous, r.Polls)
	}
	b.WriteString("- The machine is a shared VM with 2 cores: the observers share the sender's core, and other work on either core shows in the tails (max, p99).\n")
	_, err := io.WriteString(w, b.String())
	return err
}
