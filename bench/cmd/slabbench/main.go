// Command slabbench runs slabcast's benchmark suite (issue 5) and writes its
// tables and plots to bench/results/.
//
//	slabbench NAME [FLAGS]    (slabbench with no arguments lists them)
//	slabbench all
//
// Each benchmark lives in its own package under bench/ and registers itself
// here from its own file. They send multicast, so they refuse to run
// outside a private network namespace:
// run it as root under /work/shared/tools/netns-run, or under
// `unshare --net` with lo up and carrying 224.0.0.0/4, as the Makefile's
// NETNS does.
package main

import (
	"bytes"
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
	b.WriteString("usage: slabbench NAME [FLAGS]   (slabbench NAME -h for its flags)\n\nBenchmarks (run as root inside a private network namespace; results in bench/results/):\n")
	for _, x := range benchmarks {
		fmt.Fprintf(&b, "  %-10s %s\n", x.name, x.summary)
	}
	b.WriteString("  all        every benchmark above, one after another\n")
	return b.String()
}

// netnsHint tells how to get a private namespace whose lo carries multicast.
const netnsHint = `run it in a private network namespace, as root:
  /work/shared/tools/netns-run go run ./bench/cmd/slabbench ingest
or
  unshare --net -- sh -c 'ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo; exec "$@"' netns go run ./bench/cmd/slabbench ingest`

func main() {
	if err := run(os.Args[1:]); err != nil {
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

// requireNetns refuses to run outside a private network namespace and makes
// sure its lo carries multicast.
func requireNetns() error {
	if !testnet.Isolated() {
		return fmt.Errorf("refusing to send multicast outside a private network namespace (this one has interfaces besides lo);\n%s", netnsHint)
	}
	setup := "ip link set lo up && ip link set lo multicast on && ip route replace 224.0.0.0/4 dev lo"
	if b, err := exec.Command("sh", "-c", setup).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot route 224.0.0.0/4 over lo: %v: %s\n%s", err, strings.TrimSpace(string(b)), netnsHint)
	}
	return nil
}

// rerun starts the command line a report quotes to rerun a benchmark.
const rerun = "/work/shared/tools/netns-run go run ./bench/cmd/slabbench "

// flagSet starts benchmark name's flags with the -out flag they all have:
// the results directory (bench/results under root), which receives files.
func flagSet(name, root, files string) (fs *flag.FlagSet, out *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	out = fs.String("out", filepath.Join(root, "bench", "results"), "directory for "+files)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usageText()); fs.PrintDefaults() }
	return fs, out
}

// parseArgs parses a benchmark's flags, refuses stray arguments and, since
// every benchmark sends multicast, any but a private network namespace.
func parseArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return requireNetns()
}

// setFlags is " -name=value" for every flag set on the command line but
// those skipped (local paths), to quote in a report's command.
func setFlags(fs *flag.FlagSet, skip ...string) string {
	var b strings.Builder
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(skip, f.Name) {
			fmt.Fprintf(&b, " -%s=%s", f.Name, f.Value)
		}
	})
	return b.String()
}

// logf is the benchmarks' progress log: timestamped lines on stderr.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
}

// interruptible returns a context that ends on SIGINT or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// A report renders a benchmark's results as markdown; those with a plot
// are also svgReports.
type report interface{ WriteMarkdown(io.Writer) error }

type svgReport interface{ WriteSVG(io.Writer) error }

// writeResults prints rep's markdown and writes it to out/NAME.md, and its
// plot, if it has one, to out/NAME.svg.
func writeResults(out, name string, rep report) error {
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
	var svg bytes.Buffer
	if err := plot.WriteSVG(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, name+".svg"), svg.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s.svg\n", path, name)
	return nil
}

func runIngest(args []string) error {
	cfg := ingest.DefaultConfig()
	root := moduleRoot()
	fs, out := flagSet("ingest", root, "ingest.md and ingest.svg")
	duration := fs.Duration("duration", cfg.Point, "sending time of each measured rate (about 25 points in all)")
	clip := fs.String("clip", filepath.Join(root, cfg.Clip), "MPEG-TS clip to loop")
	steer := fs.Bool("steer", cfg.Steer, "move the kernel's receive half onto the receiver's core (receive packet steering on the namespace's lo)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	cfg.Point = *duration
	cfg.Steer = *steer
	cfg.Clip = *clip
	cfg.Logf = logf
	ctx, stop := interruptible()
	defer stop()
	rep, err := ingest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Command = rerun + "ingest"
	if *duration != ingest.DefaultConfig().Point {
		rep.Command += " -duration " + duration.String()
	}
	if *steer != ingest.DefaultConfig().Steer {
		rep.Command += fmt.Sprintf(" -steer=%v", *steer)
	}
	rep.Config.Clip = relTo(root, cfg.Clip)
	return writeResults(*out, "ingest", rep)
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
