package main

import (
	"context"
	"strings"

	"github.com/slabcast/slabcast/bench/drm"
)

func init() {
	register(benchmark{"drm", "AES-128 HLS: encrypted segment delivery against cleartext (wrk, alternated pairs) and encryption's CPU per Gbit/s of ingest (drm.md)", runDRM})
}

func runDRM(args []string) error {
	def := drm.DefaultConfig()
	cfg := def
	root := moduleRoot()
	fs, out := flagSet("drm", root, "drm.md")
	fs.DurationVar(&cfg.Duration, "duration", def.Duration, "length of each wrk run (2 × pairs runs a case)")
	fs.IntVar(&cfg.Pairs, "pairs", def.Pairs, "clear and encrypted runs per case, alternated")
	fs.Float64Var(&cfg.Bitrate, "bitrate", def.Bitrate, "bit/s of the clip both streams take")
	fs.IntVar(&cfg.Connections, "c", def.Connections, "wrk connections")
	fs.IntVar(&cfg.Threads, "t", def.Threads, "wrk threads")
	fs.StringVar(&cfg.ServerCPUs, "server-cpus", def.ServerCPUs, "taskset list for slabcast and the Go benchmarks (empty: unpinned)")
	fs.StringVar(&cfg.LoadCPUs, "load-cpus", def.LoadCPUs, "taskset list for wrk and the feeder (empty: unpinned)")
	fs.StringVar(&cfg.BenchTime, "benchtime", def.BenchTime, "-benchtime of the pipeline's encryption benchmarks (empty: skip them)")
	fs.IntVar(&cfg.BenchCount, "count", def.BenchCount, "-count of the pipeline's encryption benchmarks")
	fs.StringVar(&cfg.Bin, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	cases := fs.String("cases", "segments,playlists", "cases to measure, comma-separated")
	return runBenchmark(fs, out, args, []string{"bin"}, func(ctx context.Context) (results, error) {
		cfg.Cases = nil
		for _, c := range strings.Split(*cases, ",") {
			k, err := drm.ParseCase(strings.TrimSpace(c))
			if err != nil {
				return nil, err
			}
			cfg.Cases = append(cfg.Cases, k)
		}
		cfg.Root = root
		cfg.Logf = logf
		return drm.Run(ctx, cfg)
	})
}
