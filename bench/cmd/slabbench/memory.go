package main

import (
	"context"

	"github.com/slabcast/slabcast/bench/memory"
)

func init() {
	register(benchmark{"memory", "resident memory per channel against bitrate × window, allocations per packet (memory.md)", runMemory})
}

func runMemory(args []string) error {
	cfg := memory.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("memory", root, "memory.md")
	fs.BoolVar(&cfg.AllocTests, "alloc-tests", cfg.AllocTests, "run and quote the pipeline's allocation tests (go test)")
	return runBenchmark(fs, out, args, nil, func(ctx context.Context) (results, error) {
		cfg.Root, cfg.Logf = root, logf
		return memory.Run(ctx, cfg)
	})
}
