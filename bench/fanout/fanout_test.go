package fanout

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/nic"
)

func TestMain(m *testing.M) { testnet.Main(m) }

// TestRunTiny runs the harness with up to 3 clients for a second a step and
// checks what it measured and the table and plot it writes. It asserts that
// the harness works, never a timing.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	cfg := DefaultConfig()
	cfg.Root = "../.."
	cfg.Bin = benchtest.Slabcast(t, cfg.Root)
	cfg.Bitrate = 4e6
	cfg.Steps = []int{1, 3}
	cfg.Warm = 500 * time.Millisecond
	cfg.Window = time.Second
	cfg.Lag = 500 * time.Millisecond
	cfg.KeepGoing = true
	if len(nic.OnlineCPUs()) < 2 {
		cfg.ServerCPUs, cfg.ClientCPUs = "", ""
	}
	if err := Tools(cfg); errors.Is(err, ErrMissingTool) {
		benchtest.Tool(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Steps) != 2 {
		t.Fatalf("%d steps, want 2", len(rep.Steps))
	}
	if rep.Idle.InputBytes == 0 {
		t.Error("no input measured with no client")
	}
	for _, s := range rep.Steps {
		if s.Attached != s.K {
			t.Errorf("K=%d: slabcast counts %d clients", s.K, s.Attached)
		}
		if s.Dead != 0 || s.ClientBytes == 0 || s.MinClient == 0 {
			t.Errorf("K=%d: %d dead, %d bytes received, least client %d", s.K, s.Dead, s.ClientBytes, s.MinClient)
		}
		// Every client gets the whole stream: within the window it receives
		// about what came in (more while catching up from its first segment).
		if sh := s.MinShare(); sh < 0.3 {
			t.Errorf("K=%d: least client received %.2f of the input", s.K, sh)
		}
	}

	out := benchtest.Markdown(t, rep, "# HTTP MPEG-TS fan-out", "- Machine: ", "## Goals", "- Largest K with no client behind: ", "## Caveats")
	rows := report.Table(out, "| K | attached")
	if len(rows) != 2+1+2 {
		t.Fatalf("table has %d lines, want 5:\n%s", len(rows), out)
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	for _, row := range rows[3:] {
		if len(row) != len(rows[0]) {
			t.Errorf("row %q has %d cells, header %d", row, len(row), len(rows[0]))
			continue
		}
		for _, c := range []int{0, 2, 6, 7} {
			if !num.MatchString(row[c]) {
				t.Errorf("row %q: cell %d not a number", row, c)
			}
		}
	}

	if lines := benchtest.Curves(t, rep); lines != 3 {
		t.Errorf("SVG has %d curves, want 3", lines)
	}
}
