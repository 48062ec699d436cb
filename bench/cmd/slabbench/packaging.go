package main

import (
	"context"
	"strings"

	"github.com/slabcast/slabcast/bench/packaging"
)

func init() {
	register(benchmark{"packaging", "fMP4 HLS and DASH: segment delivery against nginx from tmpfs (wrk, alternated pairs), CPU per packaged Gbit/s, memory per channel with every output in use (packaging.md)", runPackaging})
}

func runPackaging(args []string) error {
	def := packaging.DefaultConfig()
	cfg := def
	root := moduleRoot()
	fs, out := flagSet("packaging", root, "packaging.md")
	fs.DurationVar(&cfg.Duration, "duration", def.Duration, "length of each wrk run (2 × pairs runs a case)")
	fs.IntVar(&cfg.Pairs, "pairs", def.Pairs, "slabcast and nginx runs per case, alternated")
	fs.Float64Var(&cfg.Bitrate, "bitrate", def.Bitrate, "bit/s of the clip every stream takes")
	fs.IntVar(&cfg.Connections, "c", def.Connections, "wrk connections")
	fs.IntVar(&cfg.Threads, "t", def.Threads, "wrk threads")
	fs.StringVar(&cfg.ServerCPUs, "server-cpus", def.ServerCPUs, "taskset list for slabcast and nginx (empty: unpinned)")
	fs.StringVar(&cfg.LoadCPUs, "load-cpus", def.LoadCPUs, "taskset list for wrk, the feeders and the fetcher (empty: unpinned)")
	fs.IntVar(&cfg.Workers, "workers", def.Workers, "nginx worker_processes (0: the cores of -server-cpus)")
	fs.IntVar(&cfg.Channels, "channels", def.Channels, "channels of the packaging-CPU and memory parts (0: skip them)")
	fs.DurationVar(&cfg.Window, "window", def.Window, "length of each packaging-CPU window")
	fs.IntVar(&cfg.WindowPairs, "window-pairs", def.WindowPairs, "A (TS only) and B (every output) windows, alternated")
	fs.StringVar(&cfg.Bin, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	var names []string
	for _, c := range def.Cases {
		names = append(names, c.Output.Name+map[bool]string{false: "-segments", true: "-manifest"}[c.Manifest])
	}
	cases := fs.String("cases", strings.Join(names, ","), "delivery cases, comma-separated: OUTPUT-segments or OUTPUT-manifest, OUTPUT one of ts, fmp4, dash, llhls (empty: skip)")
	return runBenchmark(fs, out, args, []string{"bin"}, func(ctx context.Context) (results, error) {
		cfg.Cases = nil
		for _, c := range strings.Split(*cases, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			k, err := packaging.ParseCase(c)
			if err != nil {
				return nil, err
			}
			cfg.Cases = append(cfg.Cases, k)
		}
		cfg.Root = root
		cfg.Logf = logf
		return packaging.Run(ctx, cfg)
	})
}
