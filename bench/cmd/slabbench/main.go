// Command slabbench runs slabcast's benchmark suite (issue 5) and writes its
// tables and plots to bench/results/.
//
//	slabbench NAME [FLAGS]    (slabbench with no arguments lists them)
//	slabbench all
//
// Each benchmark lives in its own package under bench/ and registers itself
// here from its own file. They send multicast, so they run only in a
// private network namespace whose lo carries 224.0.0.0/4. Run as root,
// slabbench makes one: it re-executes itself under `unshare --net`, as
// internal/testnet does for the tests. In a namespace made otherwise (make
// netns CMD="go run ./bench/cmd/slabbench ingest") it routes multicast over
// lo and runs in place.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/bench/ingest"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
)

// A benchmark of the suite: each registers itself from its own file's init,
// so benchmarks are added without touching this one.
type benchmark struct {
	name    string
	summary string // one line for the usage text
	run     func(args []string) error
}

var benchmarks []benchmark

func register(b benchmark) { benchmarks = append(benchmarks, b) }

func init() {
	register(benchmark{"ingest", "ingest ceiling on one core: bare recvmmsg against slabcast with the filter on and off (ingest.md, ingest.svg)", runIngest})
}

func usageText() string {
	var b strings.Builder
	b.WriteString("usage: slabbench NAME [FLAGS]   (slabbench NAME -h for its flags)\n\nBenchmarks (run as root: they run in a private network namespace; results in bench/results/):\n")
	for _, x := range benchmarks {
		fmt.Fprintf(&b, "  %-10s %s\n", x.name, x.summary)
	}
	b.WriteString("  all        every benchmark above, one after another\n")
	return b.String()
}

// netnsHint tells how else to get a private namespace whose lo carries
// multicast.
const netnsHint = `run it as root, and it runs itself in a private network namespace; or run it in one, from the repository root:
  make netns CMD="go run ./bench/cmd/slabbench ingest"
or
  unshare --net -- sh -c 'ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo; exec "$@"' netns go run ./bench/cmd/slabbench ingest`

// rerun starts the command line a report quotes to rerun a benchmark.
const rerun = "go run ./bench/cmd/slabbench "

func main() {
	err := run(os.Args[1:])
	var code exitCode
	switch {
	case errors.As(err, &code):
		os.Exit(int(code))
	case err != nil:
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "slabbench:", err)
		}
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usageText())
		return errors.New("no benchmark named")
	}
	if args[0] == "all" {
		for _, x := range benchmarks {
			fmt.Fprintf(os.Stderr, "== %s\n", x.name)
			if err := x.run(args[1:]); err != nil {
				return fmt.Errorf("%s: %w", x.name, err)
			}
		}
		return nil
	}
	for _, x := range benchmarks {
		if x.name == args[0] {
			return x.run(args[1:])
		}
	}
	fmt.Fprint(os.Stderr, usageText())
	return fmt.Errorf("unknown benchmark %q", args[0])
}

// exitCode is how slabbench, re-executed in a namespace of its own, ended.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// netnsEnv marks the re-executed slabbench.
const netnsEnv = "SLABBENCH_NETNS"

// enterNetns makes sure the benchmarks run in a private network namespace
// whose lo carries multicast. In one already, it routes 224.0.0.0/4 over lo
// and returns nil. Elsewhere, as root, it runs this same command again under
// `unshare --net`, passing on SIGINT and SIGTERM, and returns its exit
// status as an exitCode once it ends; without root it refuses.
func enterNetns() error {
	if testnet.Isolated() {
		setup := "ip link set lo up && ip link set lo multicast on && ip route replace 224.0.0.0/4 dev lo"
		if b, err := exec.Command("sh", "-c", setup).CombinedOutput(); err != nil {
			return fmt.Errorf("cannot route 224.0.0.0/4 over lo: %v: %s\n%s", err, strings.TrimSpace(string(b)), netnsHint)
		}
		return nil
	}
	switch {
	case os.Getenv(netnsEnv) != "":
		return errors.New("re-executed under unshare --net but still not in a private network namespace")
	case os.Geteuid() != 0:
		return fmt.Errorf("refusing to send multicast outside a private network namespace, and making one needs root;\n%s", netnsHint)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program to re-execute it: %w", err)
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--", exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("unshare --net: %w\n%s", err, netnsHint)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return exitCode(max(1, ee.ExitCode()))
			}
			if err != nil {
				return fmt.Errorf("unshare --net: %w", err)
			}
			return exitCode(0)
		}
	}
}

// flagSet starts benchmark name's flags with the -out flag they all have:
// the results directory (bench/results under root), which receives files.
func flagSet(name, root, files string) (fs *flag.FlagSet, out *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	out = fs.String("out", filepath.Join(root, "bench", "results"), "directory for "+files)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	return fs, out
}

// results is what a benchmark's Run returns.
type results interface {
	WriteMarkdown(io.Writer) error
	Info() *report.Run
}

// runBenchmark parses a benchmark's flags, refusing stray arguments, makes
// sure it runs in a private network namespace, runs it until it ends or
// SIGINT or SIGTERM, and writes its results to the -out directory with the
// command line that reproduces it (the flags set, but those named in
// local: paths on this machine).
func runBenchmark(fs *flag.FlagSet, out *string, args []string, local []string, bench func(context.Context) (results, error)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	if err := enterNetns(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx)
	if err != nil {
		return err
	}
	var cmd strings.Builder
	cmd.WriteString(rerun + fs.Name())
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "out" && !slices.Contains(local, f.Name) {
			fmt.Fprintf(&cmd, " -%s=%s", f.Name, f.Value)
		}
	})
	rep.Info().Command = cmd.String()
	return writeResults(*out, fs.Name(), rep)
}

// logf is the benchmarks' progress log: timestamped lines on stderr.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
}

// svgReport is a benchmark's results with a plot.
type svgReport interface{ WriteSVG(io.Writer) error }

// writeResults prints rep's markdown and writes it to out/NAME.md, and its
// plot, if it has one, to out/NAME.svg.
func writeResults(out, name string, rep results) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Print(md.String())
	path := filepath.Join(out, name+".md")
	if err := os.WriteFile(path, []byte(md.String()), 0o644); err != nil {
		return err
	}
	plot, ok := rep.(svgReport)
	if !ok {
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
		return nil
	}
	var svg strings.Builder
	if err := plot.WriteSVG(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, name+".svg"), []byte(svg.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s.svg\n", path, name)
	return nil
}

func runIngest(args []string) error {
	cfg := ingest.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("ingest", root, "ingest.md and ingest.svg")
	fs.DurationVar(&cfg.Point, "duration", cfg.Point, "sending time of each measured rate (about 25 points in all)")
	fs.StringVar(&cfg.Clip, "clip", filepath.Join(root, cfg.Clip), "MPEG-TS clip to loop")
	fs.BoolVar(&cfg.Steer, "steer", cfg.Steer, "move the kernel's receive half onto the receiver's core (receive packet steering on the namespace's lo)")
	return runBenchmark(fs, out, args, []string{"clip"}, func(ctx context.Context) (results, error) {
		cfg.Logf = logf
		rep, err := ingest.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		rep.Config.Clip = relTo(root, cfg.Clip)
		return rep, nil
	})
}

// moduleRoot finds the directory of slabcast's go.mod from the working
// directory up, so the defaults work from anywhere in the tree; "." if none.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/slabcast/slabcast\n") {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "."
		}
		dir = up
	}
}

func relTo(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
