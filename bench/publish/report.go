package publish

import (
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/slabcast/slabcast/bench/internal/report"
)

// WriteMarkdown writes publish.md: the setup, a row per N with each
// headend's CPU a stream and the ratios, and every point.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cfg := rep.Config
	rep.Header(&b, "Published streams",
		"Issue \"Live streams and every common source\": the CPU a stream published over RTMP costs slabcast, against "+
			"`ffmpeg -listen 1 -i rtmp://… -c copy -f hls` (one process per stream, the do-it-yourself RTMP-to-HLS server) "+
			"and against slabcast's own UDP path carrying the same clip.", ffmpegVersion())
	fmt.Fprintf(&b, "\nSetup: one clip of %.2f Mbit/s (testsrc2, H.264 CBR, a keyframe a second, AAC; column rate). "+
		"For each N, N publishers `ffmpeg -re -stream_loop -1 -i CLIP -c copy -f flv rtmp://…`, all under `taskset -c %d`, "+
		"publish it, paced at its own rate. The headend runs on CPU %d: slabcast as one daemon with `cpus %d;` under "+
		"`taskset -c %d`, N `live` streams (`input publish://;`) and an `rtmp` listener; the ffmpeg baseline as N "+
		"processes under `taskset -c %d`, each listening on a port of its own and writing %v segments to a tmpfs "+
		"directory. The UDP row is the same daemon with N `udp://127.0.0.1:PORT` streams that `slabcast feed --loop` "+
		"sends the same clip to, from CPU %d. Once every stream has a segment, the headend's CPU (utime+stime from "+
		"/proc, the ffmpeg processes summed) is read over %v. Publishers pace themselves (-re): these are CPU costs at "+
		"equal offered load, not capacities, and the offered column shows what each headend took in.\n\n",
		rep.Rate/1e6, cfg.SenderCPU, cfg.ReceiverCPU, cfg.ReceiverCPU, cfg.ReceiverCPU, cfg.ReceiverCPU, segDur,
		cfg.SenderCPU, cfg.Window)

	report.TableHead(&b, "rrrrrrrr", "N", "slabcast, RTMP: core a stream", "ffmpeg -f hls, RTMP: core a stream",
		"ffmpeg ÷ slabcast", "slabcast, UDP: core a stream", "RTMP ÷ UDP (slabcast)", "offered, Mbit/s (slabcast RTMP)",
		"streams up (slabcast RTMP / ffmpeg / UDP)")
	for _, n := range cfg.Ns {
		r, okR := rep.Find(SlabcastRTMP, n)
		f, okF := rep.Find(FFmpegRTMP, n)
		u, okU := rep.Find(SlabcastUDP, n)
		if !okR {
			continue
		}
		fmt.Fprintf(&b, "| %d | %.3f%% | %s | %s | %s | %s | %.1f of %.1f | %d / %s / %s |\n", n, r.PerStream(),
			pct(f, okF), ratio(f.PerStream(), r.PerStream(), okF), pct(u, okU), ratio(r.PerStream(), u.PerStream(), okU),
			r.Offered(), r.Expected*8/r.Window.Seconds()/1e6, r.Up, up(f, okF), up(u, okU))
	}
	b.WriteString("\nCore a stream: the headend's CPU-seconds over the window, over N, in % of one core. Offered: what " +
		"slabcast's streams took in over the window (`slabcast_input_bytes_total`: the TS the muxer made of the " +
		"publishers' frames) against N × the clip's rate. Streams up: those that took data in over the window (ffmpeg's: began a segment in it).\n\n")

	b.WriteString("## Every point\n\n")
	report.TableHead(&b, "lrrrrrl", "headend", "N", "CPU, s", "window, s", "core a stream", "in, Mbit/s", "note")
	for _, p := range rep.Points {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.3f%% | %.1f | %s |\n", p.System, p.N, p.CPU.Seconds(), p.Window.Seconds(),
			p.PerStream(), p.Offered(), p.Note)
	}
	b.WriteString("\n## Caveats\n\n- Process CPU is sampled in 10 ms ticks; the machine is a shared VM, and runs minutes apart " +
		"move by tens of per cent. Read the ratios, measured back to back, more than the absolute figures.\n" +
		"- ffmpeg's bytes in are the segments it began in the window, whole: a segment's head before the window " +
		"and another's tail after it balance only on average.\n" +
		"- slabcast's RTMP row includes muxing the publishers' frames into TS (PAT/PMT, PES, PCR); the UDP row receives " +
		"TS as it is.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(p Point, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.3f%%", p.PerStream())
}

func ratio(a, b float64, ok bool) string {
	if !ok || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func up(p Point, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprint(p.Up)
}

// ffmpegVersion is the first line of `ffmpeg -version`.
func ffmpegVersion() string {
	out, err := exec.Command("ffmpeg", "-version").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return first
}
