package delivery

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
)

// wrkScript rotates over a list of paths, one request each, and prints
// wrk's summary precisely (wrk's own text rounds bytes to two digits of
// GB) on one line: BENCH key=value ...
const wrkScript = `local paths = {%s}
local n = #paths
local i = 0
request = function()
    i = i %% n + 1
    return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("BENCH requests=%%d bytes=%%d duration_us=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d p50_us=%%d p90_us=%%d p99_us=%%d max_us=%%d\n",
        summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

// Load is what one wrk run measured.
type Load struct {
	Requests uint64
	Bytes    uint64 // response bytes, headers included
	Duration time.Duration
	// Errors: connect, read, write, non-2xx/3xx status, timeout.
	Connect, Read, Write, Status, Timeout uint64
	P50, P90, P99, Max                    time.Duration
}

// Errors is the sum of every kind of error.
func (l Load) Errors() uint64 { return l.Connect + l.Read + l.Write + l.Status + l.Timeout }

// RPS is requests per second.
func (l Load) RPS() float64 {
	if l.Duration <= 0 {
		return 0
	}
	return float64(l.Requests) / l.Duration.Seconds()
}

// Gbps is response bits per second, in Gbit/s.
func (l Load) Gbps() float64 {
	if l.Duration <= 0 {
		return 0
	}
	return float64(l.Bytes) * 8 / l.Duration.Seconds() / 1e9
}

// runWrk loads base with wrk for d, rotating over paths, conns
// connections on threads threads, pinned to cpus when not empty. The
// script is written into dir.
func runWrk(ctx context.Context, dir, base string, paths []string, conns, threads int, d time.Duration, cpus string) (Load, error) {
	var l Load
	if len(paths) == 0 {
		return l, fmt.Errorf("delivery: wrk: no paths")
	}
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	script := filepath.Join(dir, "rotate.lua")
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScript, strings.Join(quoted, ", ")), 0o644); err != nil {
		return l, fmt.Errorf("delivery: %w", err)
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	argv := daemon.Pinned(cpus, "wrk", "-c", strconv.Itoa(conns), "-t", strconv.Itoa(threads), "-d", strconv.Itoa(secs)+"s",
		"--timeout", "5s", "--latency", "-s", script, base)
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return l, fmt.Errorf("delivery: wrk: %w: %s", err, bytes.TrimSpace(out))
	}
	return parseWrk(out)
}

// Wrk is runWrk for the suite's other benchmarks (bench/drm): wrk loads
// base for d, rotating over paths, with conns connections on threads
// threads, pinned to cpus when not empty; its script goes in dir.
func Wrk(ctx context.Context, dir, base string, paths []string, conns, threads int, d time.Duration, cpus string) (Load, error) {
	return runWrk(ctx, dir, base, paths, conns, threads, d, cpus)
}

// parseWrk reads the BENCH line the script prints.
func parseWrk(out []byte) (Load, error) {
	var l Load
	for line := range strings.Lines(string(out)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "BENCH ")
		if !ok {
			continue
		}
		var dur, p50, p90, p99, pmax uint64
		dst := map[string]*uint64{"requests": &l.Requests, "bytes": &l.Bytes, "duration_us": &dur,
			"connect": &l.Connect, "read": &l.Read, "write": &l.Write, "status": &l.Status, "timeout": &l.Timeout,
			"p50_us": &p50, "p90_us": &p90, "p99_us": &p99, "max_us": &pmax}
		for _, f := range strings.Fields(rest) {
			k, v, ok := strings.Cut(f, "=")
			if p := dst[k]; ok && p != nil {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return l, fmt.Errorf("delivery: wrk summary %q: %w", f, err)
				}
				*p = n
				delete(dst, k)
			}
		}
		if len(dst) != 0 {
			return l, fmt.Errorf("delivery: wrk summary %q lacks fields", rest)
		}
		us := func(v uint64) time.Duration { return time.Duration(v) * time.Microsecond }
		l.Duration, l.P50, l.P90, l.P99, l.Max = us(dur), us(p50), us(p90), us(p99), us(pmax)
		return l, nil
	}
	return l, fmt.Errorf("delivery: no summary in wrk's output: %s", bytes.TrimSpace(out))
}
