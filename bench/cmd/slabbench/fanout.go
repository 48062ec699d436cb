package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.Var(&steps, "k", "client counts, ascending, comma-separated")
	fs.Float64Var(&cfg.Bitrate, "bitrate", def.Bitrate, "bit/s of the channel's clip")
	fs.DurationVar(&cfg.Window, "window", def.Window, "measurement window of each step")
	fs.DurationVar(&cfg.Warm, "warm", def.Warm, "wait after connecting a step's clients")
	fs.DurationVar(&cfg.Lag, "lag", def.Lag, "media a client may lag the input by over the window")
	fs.StringVar(&cfg.ServerCPUs, "server-cpus", def.ServerCPUs, "taskset list for slabcast (empty: unpinned)")
	fs.StringVar(&cfg.ClientCPUs, "client-cpus", def.ClientCPUs, "cores for the clients and the feeder (empty: unpinned)")
	fs.BoolVar(&cfg.KeepGoing, "keep-going", def.KeepGoing, "measure every step, not only up to the first failing one")
	fs.StringVar(&cfg.Bin, "bin", "", "a prebuilt slabcast binary (default: go build ./cmd/slabcast)")
	out := fs.String("out", filepath.Join(root, "bench", "results"), "directory for fanout.md and fanout.svg")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fanout: unexpected arguments %q", fs.Args())
	}
	if err := requireNetns(); err != nil {
		return err
	}
	cfg.Steps = steps
	cfg.Root = root
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := fanout.Run(ctx, cfg)
	if err != nil {
		return err
	}
	cmd := "/work/shared/tools/netns-run go run ./bench/cmd/slabbench fanout"
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
	path := filepath.Join(*out, "fanout.md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return err
	}
	var svg strings.Builder
	if err := rep.WriteSVG(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "fanout.svg"), []byte(svg.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and fanout.svg\n", path)
	return nil
}
