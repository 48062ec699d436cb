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

	"github.com/slabcast/slabcast/bench/channels"
)

func init() {
	register(benchmark{"channels", "channels per core at 4 and 15 Mbit/s: slabcast against one ffmpeg -c copy -f hls per channel (channels.md, channels.svg)", runChannels})
}

func runChannels(args []string) error {
	cfg := channels.DefaultConfig()
	root := moduleRoot()
	fs := flag.NewFlagSet("channels", flag.ContinueOnError)
	duration := fs.Duration("duration", cfg.Point, "sending time of each measured point")
	budget := fs.Duration("budget", cfg.Budget, "no rung starts after this much of the run")
	withFFmpeg := fs.Bool("ffmpeg", cfg.FFmpeg, "measure the ffmpeg baseline")
	out := fs.String("out", filepath.Join(root, "bench", "results"), "directory for channels.md and channels.svg")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("channels: unexpected arguments %q", fs.Args())
	}
	if err := requireNetns(); err != nil {
		return err
	}
	cfg.Root = root
	cfg.Point, cfg.Budget, cfg.FFmpeg = *duration, *budget, *withFFmpeg
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := channels.Run(ctx, cfg)
	if err != nil {
		return err
	}
	def := channels.DefaultConfig()
	rep.Command = "/work/shared/tools/netns-run go run ./bench/cmd/slabbench channels"
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
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Print(md.String())
	if err := os.WriteFile(filepath.Join(*out, "channels.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*out, "channels.svg"))
	if err != nil {
		return err
	}
	if err := rep.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and channels.svg\n", filepath.Join(*out, "channels.md"))
	return nil
}
