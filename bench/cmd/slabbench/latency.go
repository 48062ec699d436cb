package main

import (
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
	window := fs.Duration("window", cfg.Window, "measured sending time per clip against slabcast")
	relayWindow := fs.Duration("relay-window", cfg.RelayWindow, "measured sending time per clip against the bare relay")
	poll := fs.Duration("poll", cfg.PollInterval, "pause between playlist requests")
	bin := fs.String("binary", "", "a built slabcast to measure (default: go build ./cmd/slabcast into a temporary directory)")
	env := fs.String("daemon-env", "", "extra environment for the daemon, space-separated (GODEBUG=gctrace=1 …), for experiments")
	keep := fs.String("keep-log", "", "copy the daemon's log to this file")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg.ModuleRoot = root
	cfg.Binary = *bin
	cfg.DaemonEnv = strings.Fields(*env)
	cfg.KeepLog = *keep
	cfg.Window, cfg.RelayWindow, cfg.PollInterval = *window, *relayWindow, *poll
	cfg.Logf = logf
	ctx, stop := interruptible()
	defer stop()
	rep, err := latency.Run(ctx, cfg)
	if err != nil {
		return err
	}
	def := latency.DefaultConfig()
	rep.Command = rerun + "latency"
	if *window != def.Window {
		rep.Command += " -window " + window.String()
	}
	if *relayWindow != def.RelayWindow {
		rep.Command += " -relay-window " + relayWindow.String()
	}
	if *poll != def.PollInterval {
		rep.Command += " -poll " + poll.String()
	}
	return writeResults(*out, "latency", rep)
}
