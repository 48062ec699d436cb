// Command slabbench runs slabcast's benchmark suite (issue 5) and writes its
// tables and plots to bench/results/.
//
//	slabbench ingest [-duration 3s] [-out bench/results] [-clip testdata/h264_aac.ts] [-steer=false]
//
// ingest is the ingest ceiling on one core (package bench/ingest). It sends
// multicast, so it refuses to run outside a private network namespace:
// run it as root under /work/shared/tools/netns-run, or under
// `unshare --net` with lo up and carrying 224.0.0.0/4, as the Makefile's
// NETNS does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/slabcast/slabcast/bench/ingest"
	"github.com/slabcast/slabcast/internal/testnet"
)

const usage = `usage: slabbench ingest [-duration D] [-out DIR] [-clip FILE.ts] [-steer=false]

Benchmarks (run as root inside a private network namespace):
  ingest   ingest ceiling on one core: bare recvmmsg loop against slabcast's
           receive path with the socket filter on and off; writes
           DIR/ingest.md and DIR/ingest.svg
`

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
	if len(args) == 0 || args[0] != "ingest" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return errors.New("no benchmark named")
		}
		return fmt.Errorf("unknown benchmark %q", args[0])
	}
	return runIngest(args[1:])
}

func runIngest(args []string) error {
	cfg := ingest.DefaultConfig()
	root := moduleRoot()
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	duration := fs.Duration("duration", cfg.Point, "sending time of each measured rate (about 25 points in all)")
	out := fs.String("out", filepath.Join(root, "bench", "results"), "directory for ingest.md and ingest.svg")
	clip := fs.String("clip", filepath.Join(root, cfg.Clip), "MPEG-TS clip to loop")
	steer := fs.Bool("steer", cfg.Steer, "move the kernel's receive half onto the receiver's core (receive packet steering on the namespace's lo)")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("ingest: unexpected arguments %q", fs.Args())
	}
	if !testnet.Isolated() {
		return fmt.Errorf("refusing to send multicast outside a private network namespace (this one has interfaces besides lo);\n%s", netnsHint)
	}
	// Inside a private namespace nothing leaves the machine; make sure lo
	// carries multicast even if whoever made it did not.
	setup := "ip link set lo up && ip link set lo multicast on && ip route replace 224.0.0.0/4 dev lo"
	if b, err := exec.Command("sh", "-c", setup).CombinedOutput(); err != nil {
		return fmt.Errorf("cannot route 224.0.0.0/4 over lo: %v: %s\n%s", err, strings.TrimSpace(string(b)), netnsHint)
	}
	cfg.Point = *duration
	cfg.Steer = *steer
	cfg.Clip = *clip
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := ingest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Command = "/work/shared/tools/netns-run go run ./bench/cmd/slabbench ingest"
	if *duration != ingest.DefaultConfig().Point {
		rep.Command += " -duration " + duration.String()
	}
	if *steer != ingest.DefaultConfig().Steer {
		rep.Command += fmt.Sprintf(" -steer=%v", *steer)
	}
	rep.Config.Clip = relTo(root, cfg.Clip)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	fmt.Print(md.String())
	if err := os.WriteFile(filepath.Join(*out, "ingest.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(*out, "ingest.svg"))
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
	fmt.Fprintf(os.Stderr, "wrote %s and ingest.svg\n", filepath.Join(*out, "ingest.md"))
	return nil
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
