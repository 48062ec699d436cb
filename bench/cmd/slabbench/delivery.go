package main

import (
	"context"
	"strings"

	"github.com/slabcast/slabcast/bench/delivery"
)

func init() {
	register(benchmark{"delivery", "HLS delivery: wrk at 64 connections against slabcast and nginx (sendfile, tmpfs) on the same live segments (delivery.md)", runDelivery})
}

func runDelivery(args []string) error {
	def := delivery.DefaultConfig()
	cfg := def
	root := moduleRoot()
	fs, out := flagSet("delivery", root, "delivery.md")
	fs.DurationVar(&cfg.Duration, "duration", def.Duration, "length of each wrk run (6 runs in all)")
	fs.Float64Var(&cfg.Bitrate, "bitrate", def.Bitrate, "bit/s of each stream's clip")
	fs.IntVar(&cfg.Streams, "streams", def.Streams, "streams fed side by side")
	fs.IntVar(&cfg.Connections, "c", def.Connections, "wrk connections")
	fs.IntVar(&cfg.Threads, "t", def.Threads, "wrk threads")
	fs.IntVar(&cfg.Mix, "mix", def.Mix, "segments per playlist in the mixed case")
	fs.StringVar(&cfg.ServerCPUs, "server-cpus", def.ServerCPUs, "taskset list for both servers (empty: unpinned)")
	fs.StringVar(&cfg.LoadCPUs, "load-cpus", def.LoadCPUs, "taskset list for wrk and the feeders (empty: unpinned)")
	fs.IntVar(&cfg.Workers, "workers", def.Workers, "nginx worker_processes (0: the cores of -server-cpus)")
	fs.StringVar(&cfg.Bin, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	cases := fs.String("cases", "segments,mixed,playlists", "cases to measure, comma-separated")
	env := fs.String("slabcast-env", "", "space-separated VAR=value pairs added to slabcast's environment (experiments)")
	return runBenchmark(fs, out, args, []string{"bin"}, func(ctx context.Context) (results, error) {
		cfg.Cases = nil
		for _, c := range strings.Split(*cases, ",") {
			k, err := delivery.ParseCase(strings.TrimSpace(c))
			if err != nil {
				return nil, err
			}
			cfg.Cases = append(cfg.Cases, k)
		}
		cfg.Env = strings.Fields(*env)
		cfg.Root = root
		cfg.Logf = logf
		return delivery.Run(ctx, cfg)
	})
}
