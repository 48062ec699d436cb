package drm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slabcast/slabcast/bench/internal/daemon"
)

// microBench names the pipeline's Go benchmarks Run takes its
// encryption figures from.
const microBench = "^Benchmark(EncryptSegment|Ingest|IngestDRM)$"

// runMicro builds the pipeline's test binary into dir and runs its
// encryption benchmarks pinned to the server's cores, from the package's
// directory (they read ../testdata). It returns the medians and the
// equivalent go test command.
func runMicro(ctx context.Context, cfg Config, dir string) ([]Micro, string, error) {
	bin := filepath.Join(dir, "pipeline.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./pipeline")
	build.Dir = cfg.Root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("drm: go test -c ./pipeline: %w: %s", err, bytes.TrimSpace(out))
	}
	count := max(1, cfg.BenchCount)
	argv := daemon.Pinned(cfg.ServerCPUs, bin, "-test.run", "^$", "-test.bench", microBench,
		"-test.benchtime", cfg.BenchTime, "-test.count", strconv.Itoa(count))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(cfg.Root, "pipeline")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("drm: the pipeline's benchmarks: %w: %s", err, bytes.TrimSpace(out))
	}
	m, err := parseBench(out)
	if err != nil {
		return nil, "", err
	}
	command := fmt.Sprintf("go test -run '^$' -bench '%s' -benchtime %s -count %d ./pipeline", microBench, cfg.BenchTime, count)
	if cfg.ServerCPUs != "" {
		command += " (the test binary under taskset -c " + cfg.ServerCPUs + ")"
	}
	return m, command, nil
}

// parseBench reads go test -bench output: per benchmark, the median of
// each unit over its runs, in the order they first appear.
func parseBench(out []byte) ([]Micro, error) {
	type acc struct {
		runs    int
		byUnit  map[string][]float64
		ordinal int
	}
	all := map[string]*acc{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a benchmark's log line, not its result
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		a := all[name]
		if a == nil {
			a = &acc{byUnit: map[string][]float64{}, ordinal: len(all)}
			all[name] = a
		}
		a.runs++
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("drm: benchmark line %q: %w", strings.TrimSpace(line), err)
			}
			a.byUnit[f[i+1]] = append(a.byUnit[f[i+1]], v)
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("drm: no benchmark result in: %s", bytes.TrimSpace(out))
	}
	res := make([]Micro, len(all))
	for name, a := range all {
		m := Micro{Name: name, Runs: a.runs, Metrics: map[string]float64{}}
		for unit, vs := range a.byUnit {
			switch unit {
			case "ns/op":
				m.NsPerOp = median(vs)
			case "MB/s":
				m.MBps = median(vs)
			default:
				m.Metrics[unit] = median(vs)
			}
		}
		res[a.ordinal] = m
	}
	return res, nil
}
