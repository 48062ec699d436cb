// Package benchtest is what the benchmarks' tests share: the checks around
// a tiny Run and on the results it writes.
package benchtest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/daemon"
	"github.com/slabcast/slabcast/bench/internal/plot"
	"github.com/slabcast/slabcast/nic"
)

// TwoCPUs skips t unless the process may use CPUs 0 and 1, the cores the
// benchmarks pin their sender and receiver to.
func TwoCPUs(t testing.TB) {
	t.Helper()
	if cpus := nic.OnlineCPUs(); len(cpus) < 2 || cpus[0] != 0 || cpus[1] != 1 {
		t.Skipf("needs CPUs 0 and 1, have %v", cpus)
	}
}

// Tool skips t when err (a missing tool) is not nil, and fails it under CI
// (CI=true), where every tool must be installed (make deps, make
// bench-deps).
func Tool(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// Markdown renders r's results file, checks that it holds every one of
// wants and returns it.
func Markdown(t testing.TB, r interface{ WriteMarkdown(io.Writer) error }, wants ...string) string {
	t.Helper()
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	return out
}

// Curves renders r's plot, checks that it is well-formed and returns the
// number of its lines of points.
func Curves(t testing.TB, r interface{ WriteSVG(io.Writer) error }) int {
	t.Helper()
	var svg strings.Builder
	if err := r.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	n, err := plot.Curves(svg.String())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// Slabcast builds slabcast from the module at root once per test binary and
// returns its path. The build has its own deadline, apart from the bounded
// run a test times: on a clean clone the build cache is cold, and `make
// test` builds every package at once, so a build can take minutes.
func Slabcast(t testing.TB, root string) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "slabcast-bench-bin-")
		if err != nil {
			built.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		built.bin, built.err = daemon.Build(ctx, root, dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	if _, err := os.Stat(built.bin); err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(built.bin)
}
