package main

import (
	"fmt"

	"github.com/slabcast/slabcast/bench/memory"
)

func init() {
	register(benchmark{"memory", "resident memory per channel against bitrate × window, allocations per packet (memory.md)", runMemory})
}

func runMemory(args []string) error {
	cfg := memory.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("memory", root, "memory.md")
	allocTests := fs.Bool("alloc-tests", cfg.AllocTests, "run and quote the pipeline's allocation tests (go test)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg.Root = root
	cfg.AllocTests = *allocTests
	cfg.Logf = logf
	ctx, stop := interruptible()
	defer stop()
	rep, err := memory.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Command = rerun + "memory"
	if *allocTests != memory.DefaultConfig().AllocTests {
		rep.Command += fmt.Sprintf(" -alloc-tests=%v", *allocTests)
	}
	return writeResults(*out, "memory", rep)
}
