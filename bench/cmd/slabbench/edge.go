package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/slabcast/slabcast/bench/edge"
)

func init() {
	register(benchmark{"edge", "HLS viewers direct against through an nginx edge cache (deploy/nginx), CPU of both, and the origin's requests per new segment behind the edge (edge.md)", runEdge})
}

func runEdge(args []string) error {
	def := edge.DefaultConfig()
	cfg := def
	root := moduleRoot()
	fs, out := flagSet("edge", root, "edge.md")
	var counts []string
	for _, n := range def.Viewers {
		counts = append(counts, strconv.Itoa(n))
	}
	viewers := fs.String("viewers", strings.Join(counts, ","), "viewer counts, comma-separated; each runs direct and through the edge")
	fs.DurationVar(&cfg.Window, "window", def.Window, "measured time of each case")
	fs.DurationVar(&cfg.Warmup, "warmup", def.Warmup, "uncounted time before each window (0: two segment durations)")
	fs.Float64Var(&cfg.Bitrate, "bitrate", def.Bitrate, "bit/s of the clip the channel takes")
	fs.IntVar(&cfg.SegmentDuration, "segment-duration", def.SegmentDuration, "the stream's segment_duration, seconds")
	fs.StringVar(&cfg.ServerCPUs, "server-cpus", def.ServerCPUs, "taskset list for slabcast and nginx (empty: unpinned)")
	fs.StringVar(&cfg.LoadCPUs, "load-cpus", def.LoadCPUs, "taskset list for the feeder and the viewers (empty: unpinned)")
	fs.IntVar(&cfg.Workers, "workers", def.Workers, "nginx worker_processes (0: the cores of -server-cpus)")
	fs.StringVar(&cfg.EdgeConf, "edge-conf", "", "the edge config (default: deploy/nginx/slabcast-edge.conf)")
	fs.StringVar(&cfg.Bin, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	return runBenchmark(fs, out, args, []string{"bin", "edge-conf"}, func(ctx context.Context) (results, error) {
		cfg.Viewers = nil
		for _, s := range strings.Split(*viewers, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("edge: -viewers: %q is not a viewer count", s)
			}
			cfg.Viewers = append(cfg.Viewers, n)
		}
		cfg.Root = root
		cfg.Logf = logf
		return edge.Run(ctx, cfg)
	})
}
