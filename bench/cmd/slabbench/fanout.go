package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/slabcast/slabcast/bench/fanout"
)

func init() {
	register(benchmark{"fanout", "HTTP MPEG-TS fan-out: K clients on one channel's /mpegts, CPU per client-Gbit/s, largest K keeping up (fanout.md, fanout.svg)", runFanout})
}

// intList is a flag holding comma-separated integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad client count %q", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

func runFanout(args []string) error {
	def := fanout.DefaultConfig()
	cfg := def
	root := moduleRoot()
	steps := intList(def.Steps)
	fs, out := flagSet("fanout", root, "fanout.md and fanout.svg")
	fs.Var(&steps, "k", "client counts, ascending, comma-separated")
	fs.Float64Var(&cfg.Bitrate, "bitrate", def.Bitrate, "bit/s of the channel's clip")
	fs.DurationVar(&cfg.Window, "window", def.Window, "measurement window of each step")
	fs.DurationVar(&cfg.Warm, "warm", def.Warm, "wait after connecting a step's clients")
	fs.DurationVar(&cfg.Lag, "lag", def.Lag, "media a client may lag the input by over the window")
	fs.StringVar(&cfg.ServerCPUs, "server-cpus", def.ServerCPUs, "taskset list for slabcast (empty: unpinned)")
	fs.StringVar(&cfg.ClientCPUs, "client-cpus", def.ClientCPUs, "cores for the clients and the feeder (empty: unpinned)")
	fs.BoolVar(&cfg.KeepGoing, "keep-going", def.KeepGoing, "measure every step, not only up to the first failing one")
	fs.StringVar(&cfg.Bin, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	return runBenchmark(fs, out, args, []string{"bin"}, func(ctx context.Context) (results, error) {
		cfg.Steps = steps
		cfg.Root = root
		cfg.Logf = logf
		return fanout.Run(ctx, cfg)
	})
}
