package channels

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/proc"
)

// Fleet is the do-it-yourself headend: one `ffmpeg -c copy -f hls` process
// per channel, reading udp://GROUP:PORT and writing segments and a playlist
// into a directory of its own on tmpfs, every process under
// `taskset -c CPU`.
type Fleet struct {
	procs []*ffmpegProc
}

type ffmpegProc struct {
	cmd  *exec.Cmd
	dir  string
	log  *lockedBuffer
	done chan struct{}
	err  error
}

// FFmpegArgs is the command line of one channel's ffmpeg: input from group,
// HLS out to dir, segmentDuration long segments. The input takes the
// largest receive buffer the kernel allows without privilege
// (buffer_size, capped by net.core.rmem_max), keeps ffmpeg's default FIFO
// between its reading thread and the demuxer, survives an overrun of that
// FIFO with a warning instead of ending (overrun_nonfatal), and probes two
// seconds of stream (two GOPs: joined mid-GOP, it needs a whole one to find
// the picture size) before it starts writing.
func FFmpegArgs(group netip.AddrPort, dir string, segmentDuration time.Duration) []string {
	in := fmt.Sprintf("udp://%s?overrun_nonfatal=1&buffer_size=%d", group, 16<<20)
	return []string{"-nostdin", "-hide_banner", "-loglevel", "warning",
		"-probesize", "5000000", "-analyzeduration", "2000000",
		"-i", in, "-map", "0", "-c", "copy",
		"-f", "hls", "-hls_time", strconv.FormatFloat(segmentDuration.Seconds(), 'f', -1, 64),
		"-hls_list_size", "6",
		"-hls_segment_filename", filepath.Join(dir, "seg%06d.ts"),
		filepath.Join(dir, "index.m3u8")}
}

// StartFleet starts one ffmpeg per group under root (a tmpfs directory),
// pinned to cpu.
func StartFleet(root string, groups []netip.AddrPort, cpu int, segmentDuration time.Duration) (*Fleet, error) {
	f := &Fleet{}
	for i, g := range groups {
		dir := filepath.Join(root, daemon.ChannelName(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Stop()
			return nil, fmt.Errorf("channels: %w", err)
		}
		p := &ffmpegProc{dir: dir, log: &lockedBuffer{}, done: make(chan struct{})}
		argv := daemon.Pinned(strconv.Itoa(cpu), append([]string{"ffmpeg"}, FFmpegArgs(g, dir, segmentDuration)...)...)
		p.cmd = exec.Command(argv[0], argv[1:]...)
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := p.cmd.Start(); err != nil {
			f.Stop()
			return nil, fmt.Errorf("channels: starting ffmpeg: %w", err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.done) }()
		f.procs = append(f.procs, p)
	}
	return f, nil
}

// CPU returns the user+system time of every ffmpeg of the fleet, summed.
func (f *Fleet) CPU() (time.Duration, error) {
	var sum time.Duration
	for _, p := range f.procs {
		d, err := proc.ProcessCPU(p.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// Alive is the number of ffmpeg processes still running.
func (f *Fleet) Alive() int {
	n := 0
	for _, p := range f.procs {
		select {
		case <-p.done:
		default:
			n++
		}
	}
	return n
}

// Written returns, per channel, the bytes of segments in its directory and
// how many segment files there are (the one being written included).
func (f *Fleet) Written() (bytes []int64, segments []int, err error) {
	bytes, segments = make([]int64, len(f.procs)), make([]int, len(f.procs))
	for i, p := range f.procs {
		ents, err := os.ReadDir(p.dir)
		if err != nil {
			return nil, nil, fmt.Errorf("channels: %w", err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".ts") {
				continue
			}
			info, err := e.Info()
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("channels: %w", err)
			}
			bytes[i] += info.Size()
			segments[i]++
		}
	}
	return bytes, segments, nil
}

// Warnings returns every line the fleet's processes wrote (warnings and
// errors: they run at -loglevel warning), in process order.
func (f *Fleet) Warnings() []string {
	var out []string
	for _, p := range f.procs {
		for line := range strings.Lines(p.log.String()) {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

// Stop kills every process (SIGTERM, then SIGKILL after 3 s) and waits.
func (f *Fleet) Stop() {
	for _, p := range f.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, p := range f.procs {
		select {
		case <-p.done:
		case <-time.After(time.Until(deadline)):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// exitErr returns the exit status of the first process that ended, nil if
// none has.
func (f *Fleet) exitErr() error {
	for _, p := range f.procs {
		select {
		case <-p.done:
			if p.err == nil {
				return errors.New("exit status 0")
			}
			return p.err
		default:
		}
	}
	return nil
}

// lockedBuffer collects a child's output, bounded to its last 64 KiB.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > 64<<10 {
		l.b = append(l.b[:0], l.b[len(l.b)-32<<10:]...)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
