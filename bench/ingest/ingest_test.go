package ingest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/bench/internal/benchtest"
	"github.com/slabcast/slabcast/bench/internal/report"
	"github.com/slabcast/slabcast/internal/testnet"
	"github.com/slabcast/slabcast/ts"

	"github.com/slabcast/slabcast/pipeline"
)

func TestMain(m *testing.M) { testnet.Main(m) }

const clipPath = "../../testdata/h264_aac.ts"

// TestRunTiny runs the whole harness in a tiny configuration (a few
// half-second points per receiver) and checks that it produces a
// well-formed report with figures in it. It asserts no timing: only that
// traffic flowed, that the counts add up, and that the files are sound.
func TestRunTiny(t *testing.T) {
	testnet.Require(t)
	benchtest.TwoCPUs(t)
	cfg := DefaultConfig()
	cfg.Clip = clipPath
	cfg.Point = 400 * time.Millisecond
	cfg.Steps = []float64{0.3, 0.6}
	cfg.Refine = 1
	cfg.Memory = 32 << 20
	cfg.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("%d results, want 3", len(rep.Results))
	}
	for _, r := range rep.Results {
		s := r.Saturation
		if s.Sent == 0 || s.Received == 0 || s.Rate() <= 0 || s.Elapsed <= 0 || s.Wall < s.Elapsed {
			t.Errorf("%v: saturation point without figures: %+v", r.Receiver, s)
		}
		if len(r.Points) == 0 {
			t.Errorf("%v: no paced point", r.Receiver)
		}
		for _, p := range append([]Point{s}, r.Points...) {
			if p.Received > p.Sent {
				t.Errorf("%v: received %d of %d sent", r.Receiver, p.Received, p.Sent)
			}
			if p.ZeroLoss() != (p.Lost() == 0 && p.Drops == 0) {
				t.Errorf("%v: ZeroLoss disagrees with Lost %d and Drops %d", r.Receiver, p.Lost(), p.Drops)
			}
		}
		if r.Receiver == Bare {
			if r.HaveStats {
				t.Error("the bare loop has pipeline stats")
			}
			continue
		}
		st := r.Stats
		if !r.HaveStats || st.Count[pipeline.Datagrams] == 0 || st.Count[pipeline.Segments] == 0 {
			t.Errorf("%v: pipeline did no work: %+v", r.Receiver, st)
		}
		// The looped clip is seamless and every datagram valid: nothing
		// refused, nothing malformed, no continuity error beyond what
		// datagrams lost on the way explain.
		if f := st.Count[pipeline.FilteredSize] + st.Count[pipeline.FilteredSync] + st.Count[pipeline.FilteredRTP]; f != 0 || st.Count[pipeline.BadDatagrams] != 0 {
			t.Errorf("%v: %d datagrams refused, %d bad", r.Receiver, f, st.Count[pipeline.BadDatagrams])
		}
		lost := uint64(0)
		for _, p := range append([]Point{s}, r.Points...) {
			lost += p.Lost()
		}
		if lost == 0 && st.TS[ts.ContinuityCountError] != 0 {
			t.Errorf("%v: %d continuity errors without a lost datagram", r.Receiver, st.TS[ts.ContinuityCountError])
		}
	}
	if f := rep.Result(Filter); f == nil || f.FilterMode == "" {
		t.Error("filter mode not recorded")
	}

	out := benchtest.Markdown(t, rep, "# Ingest ceiling, one core", "- Machine: ", "- Load average", "## Goals", "## Every point")
	// The summary table: a header, a rule and one row per receiver with
	// the same number of cells, and a non-zero saturation rate in each.
	rows := report.Table(out, "| receiver | zero loss")
	if len(rows) != 2+3 {
		t.Fatalf("summary table has %d lines, want 5:\n%s", len(rows), out)
	}
	num := regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
	for _, row := range rows[2:] {
		if len(row) != len(rows[0]) {
			t.Errorf("row %q has %d cells, header %d", row, len(row), len(rows[0]))
			continue
		}
		if !num.MatchString(row[5]) || row[5] == "0" || !num.MatchString(row[6]) || row[6] == "0" {
			t.Errorf("row %q: saturation offered/received not a non-zero number", row)
		}
	}
	if n := strings.Count(out, "of the bare loop — zero loss"); n != 2 {
		t.Errorf("%d goal lines, want 2", n)
	}

	if lines := benchtest.Curves(t, rep); lines != 3 {
		t.Errorf("SVG has %d curves, want 3", lines)
	}
}
