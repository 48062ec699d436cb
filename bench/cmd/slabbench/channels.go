package main

import (
	"context"

	"github.com/slabcast/slabcast/bench/channels"
)

func init() {
	register(benchmark{"channels", "channels per core at 4 and 15 Mbit/s: slabcast against one ffmpeg -c copy -f hls per channel (channels.md, channels.svg)", runChannels})
}

func runChannels(args []string) error {
	cfg := channels.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("channels", root, "channels.md and channels.svg")
	fs.DurationVar(&cfg.Point, "duration", cfg.Point, "sending time of each measured point")
	fs.DurationVar(&cfg.Budget, "budget", cfg.Budget, "no rung starts after this much of the run")
	fs.BoolVar(&cfg.FFmpeg, "ffmpeg", cfg.FFmpeg, "measure the ffmpeg baseline")
	return runBenchmark(fs, out, args, nil, func(ctx context.Context) (results, error) {
		cfg.Root, cfg.Logf = root, logf
		rep, err := channels.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		for k, v := range rep.Clips {
			rep.Clips[k] = relTo(root, v)
		}
		return rep, nil
	})
}
