package main

import (
	"fmt"

	"github.com/slabcast/slabcast/bench/channels"
)

func init() {
	register(benchmark{"channels", "channels per core at 4 and 15 Mbit/s: slabcast against one ffmpeg -c copy -f hls per channel (channels.md, channels.svg)", runChannels})
}

func runChannels(args []string) error {
	cfg := channels.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("channels", root, "channels.md and channels.svg")
	duration := fs.Duration("duration", cfg.Point, "sending time of each measured point")
	budget := fs.Duration("budget", cfg.Budget, "no rung starts after this much of the run")
	withFFmpeg := fs.Bool("ffmpeg", cfg.FFmpeg, "measure the ffmpeg baseline")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg.Root = root
	cfg.Point, cfg.Budget, cfg.FFmpeg = *duration, *budget, *withFFmpeg
	cfg.Logf = logf
	ctx, stop := interruptible()
	defer stop()
	rep, err := channels.Run(ctx, cfg)
	if err != nil {
		return err
	}
	def := channels.DefaultConfig()
	rep.Command = rerun + "channels"
	if *duration != def.Point {
		rep.Command += " -duration " + duration.String()
	}
	if *budget != def.Budget {
		rep.Command += " -budget " + budget.String()
	}
	if *withFFmpeg != def.FFmpeg {
		rep.Command += fmt.Sprintf(" -ffmpeg=%v", *withFFmpeg)
	}
	for k, v := range rep.Clips {
		rep.Clips[k] = relTo(root, v)
	}
	return writeResults(*out, "channels", rep)
}
