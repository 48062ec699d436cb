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

	"github.com/slabcast/slabcast/bench/delivery"
)

func init() {
	register(benchmark{"delivery", "HLS delivery: wrk at 64 connections against slabcast and nginx (sendfile, tmpfs) on the same live segments (delivery.md)", runDelivery})
}

func runDelivery(args []string) error {
	def := delivery.DefaultConfig()
	cfg := def
	root := moduleRoot()
	fs := flag.NewFlagSet("delivery", flag.ContinueOnError)
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
	out := fs.String("out", filepath.Join(root, "bench", "results"), "directory for delivery.md")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("delivery: unexpected arguments %q", fs.Args())
	}
	if err := requireNetns(); err != nil {
		return err
	}
	cfg.Cases = nil
	for _, c := range strings.Split(*cases, ",") {
		k, err := delivery.ParseCase(strings.TrimSpace(c))
		if err != nil {
			return err
		}
		cfg.Cases = append(cfg.Cases, k)
	}
	cfg.Env = strings.Fields(*env)
	cfg.Root = root
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := delivery.Run(ctx, cfg)
	if err != nil {
		return err
	}
	cmd := "/work/shared/tools/netns-run go run ./bench/cmd/slabbench delivery"
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "out" && f.Name != "bin" {
			cmd += fmt.Sprintf(" -%s=%s", f.Name, f.Value)
		}
	})
	rep.Command = cmd
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Print(md.String())
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(*out, "delivery.md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	return nil
}
