package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/bench/latency"
)

func init() {
	register(benchmark{"latency", "keyframe datagram to playlist and datagram to /mpegts, p50/p99 at 4 and 15 Mbit/s, against a bare relay (latency.md)", runLatency})
}

func runLatency(args []string) error {
	cfg := latency.DefaultConfig()
	root := moduleRoot()
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	window := fs.Duration("window", cfg.Window, "measured sending time per clip against slabcast")
	relayWindow := fs.Duration("relay-window", cfg.RelayWindow, "measured sending time per clip against the bare relay")
	poll := fs.Duration("poll", cfg.PollInterval, "pause between playlist requests")
	out := fs.String("out", filepath.Join(root, "bench", "results"), "directory for latency.md")
	bin := fs.String("binary", "", "a built slabcast to measure (default: go build ./cmd/slabcast into a temporary directory)")
	env := fs.String("daemon-env", "", "extra environment for the daemon, space-separated (GODEBUG=gctrace=1 …), for experiments")
	keep := fs.String("keep-log", "", "copy the daemon's log to this file")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("latency: unexpected arguments %q", fs.Args())
	}
	if err := requireNetns(); err != nil {
		return err
	}
	cfg.ModuleRoot = root
	cfg.Binary = *bin
	cfg.DaemonEnv = strings.Fields(*env)
	cfg.KeepLog = *keep
	cfg.Window, cfg.RelayWindow, cfg.PollInterval = *window, *relayWindow, *poll
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := latency.Run(ctx, cfg)
	if err != nil {
		return err
	}
	def := latency.DefaultConfig()
	rep.Command = "/work/shared/tools/netns-run go run ./bench/cmd/slabbench latency"
	if *window != def.Window {
		rep.Command += " -window " + window.String()
	}
	if *relayWindow != def.RelayWindow {
		rep.Command += " -relay-window " + relayWindow.String()
	}
	if *poll != def.PollInterval {
		rep.Command += " -poll " + poll.String()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Print(md.String())
	path := filepath.Join(*out, "latency.md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	return nil
}
