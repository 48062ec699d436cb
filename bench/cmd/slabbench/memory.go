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

	"github.com/slabcast/slabcast/bench/memory"
)

func init() {
	register(benchmark{"memory", "resident memory per channel against bitrate × window, allocations per packet (memory.md)", runMemory})
}

func runMemory(args []string) error {
	cfg := memory.DefaultConfig()
	root := moduleRoot()
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	allocTests := fs.Bool("alloc-tests", cfg.AllocTests, "run and quote the pipeline's allocation tests (go test)")
	out := fs.String("out", filepath.Join(root, "bench", "results"), "directory for memory.md")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("memory: unexpected arguments %q", fs.Args())
	}
	if err := requireNetns(); err != nil {
		return err
	}
	cfg.Root = root
	cfg.AllocTests = *allocTests
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := memory.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Command = "/work/shared/tools/netns-run go run ./bench/cmd/slabbench memory"
	if *allocTests != memory.DefaultConfig().AllocTests {
		rep.Command += fmt.Sprintf(" -alloc-tests=%v", *allocTests)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Print(md.String())
	if err := os.WriteFile(filepath.Join(*out, "memory.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(*out, "memory.md"))
	return nil
}
