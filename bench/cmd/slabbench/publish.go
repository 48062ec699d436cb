package main

import (
	"context"

	"github.com/slabcast/slabcast/bench/publish"
)

func init() {
	register(benchmark{"publish", "CPU a published RTMP stream costs: slabcast against ffmpeg -listen 1 -i rtmp… -c copy -f hls, and against slabcast's UDP path (publish.md)", runPublish})
}

func runPublish(args []string) error {
	cfg := publish.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("publish", root, "publish.md")
	fs.StringVar(&cfg.Binary, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "CPU is measured over this, once every stream is up")
	fs.BoolVar(&cfg.FFmpeg, "ffmpeg", cfg.FFmpeg, "measure the ffmpeg baseline")
	ns := intList(cfg.Ns)
	fs.Var(&ns, "n", "publisher counts, comma-separated")
	return runBenchmark(fs, out, args, []string{"bin"}, func(ctx context.Context) (results, error) {
		cfg.Ns, cfg.Root, cfg.Logf = ns, root, logf
		return publish.Run(ctx, cfg)
	})
}
