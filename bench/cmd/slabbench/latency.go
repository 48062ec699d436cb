package main

import (
	"context"
	"strings"

	"github.com/slabcast/slabcast/bench/latency"
)

func init() {
	register(benchmark{"latency", "keyframe datagram to playlist and datagram to /mpegts, p50/p99 at 4 and 15 Mbit/s, against a bare relay (latency.md)", runLatency})
}

func runLatency(args []string) error {
	cfg := latency.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("latency", root, "latency.md")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "measured sending time per clip against slabcast")
	fs.DurationVar(&cfg.RelayWindow, "relay-window", cfg.RelayWindow, "measured sending time per clip against the bare relay")
	fs.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "pause between playlist requests")
	fs.StringVar(&cfg.Binary, "binary", "", "a built slabcast to measure (default: go build ./cmd/slabcast into a temporary directory)")
	env := fs.String("daemon-env", "", "extra environment for the daemon, space-separated (GODEBUG=gctrace=1 …), for experiments")
	fs.StringVar(&cfg.KeepLog, "keep-log", "", "copy the daemon's log to this file")
	ring := fs.Bool("ring", false, "run slabcast with multicast_ring on (an AF_PACKET ring per port instead of UDP sockets)")
	return runBenchmark(fs, out, args, []string{"binary", "keep-log"}, func(ctx context.Context) (results, error) {
		cfg.ModuleRoot, cfg.DaemonEnv, cfg.Logf = root, strings.Fields(*env), logf
		if *ring {
			cfg.DaemonConfig = "multicast_ring on;\n"
		}
		return latency.Run(ctx, cfg)
	})
}
