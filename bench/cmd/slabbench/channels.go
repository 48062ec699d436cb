package main

import (
	"context"
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
	fs.DurationVar(&cfg.Point, "duration", cfg.Point, "sending time of each measured point")
	fs.DurationVar(&cfg.Budget, "budget", cfg.Budget, "no rung starts after this much of the run")
	fs.BoolVar(&cfg.FFmpeg, "ffmpeg", cfg.FFmpeg, "measure the ffmpeg baseline")
	fs.BoolVar(&cfg.Steer, "steer", cfg.Steer, "move the kernel's receive half onto the receiver's core (receive packet steering on the namespace's lo)")
	fs.BoolVar(&cfg.OnePort, "one-port", cfg.OnePort, "every channel on one port (the IPTV layout; slabcast shares a socket); false: a port each")
	fs.BoolVar(&cfg.Ring, "ring", cfg.Ring, "run slabcast with multicast_ring on (an AF_PACKET ring per port instead of UDP sockets; no GSO bursts, which a ring sees unsplit on lo)")
	fs.StringVar(&cfg.Binary, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	rate := fs.Float64("rate", 0, "measure only this rate of the default ladders, in Mbit/s (0: all)")
	var ns intList
	fs.Var(&ns, "n", "channel counts to try, ascending, comma-separated, for both systems (default: the ladders of each rate)")
	return runBenchmark(fs, out, args, []string{"bin"}, func(ctx context.Context) (results, error) {
		if *rate > 0 {
			var keep []channels.Rate
			for _, r := range cfg.Rates {
				if r.Mbps == *rate {
					keep = append(keep, r)
				}
			}
			if len(keep) == 0 {
				keep = []channels.Rate{{Mbps: *rate}}
			}
			cfg.Rates = keep
		}
		for i := range cfg.Rates {
			if len(ns) > 0 {
				cfg.Rates[i].Slabcast, cfg.Rates[i].FFmpeg = ns, ns
			}
			if len(cfg.Rates[i].Slabcast) == 0 {
				return nil, fmt.Errorf("no channel counts for %v Mbit/s: give -n", cfg.Rates[i].Mbps)
			}
		}
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
