//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slabcast/slabcast/internal/hlstest"
	"github.com/slabcast/slabcast/internal/testnet"
)

// The monitoring files in deploy/ against a running daemon: promtool
// accepts /metrics, the alert rules and their unit tests; every metric the
// Grafana dashboard and the rules query is one /metrics has; the health
// endpoints say ready once the stream serves.
func TestPrometheusFiles(t *testing.T) {
	testnet.Require(t)
	hlstest.RequireFFmpeg(t)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		toolMissing(t, "no promtool (Debian's prometheus): %v", err)
	}
	for _, args := range [][]string{
		{"check", "rules", "../../deploy/prometheus/slabcast-alerts.yml"},
		{"test", "rules", "../../deploy/prometheus/slabcast-alerts_test.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	d := startDaemon(t, `stream mon { input udp://239.6.3.1:5000; segment_duration 1; }`)
	code, _, body := httpGet(t, d.base+"/monitoring/readiness")
	if code != 503 {
		t.Errorf("readiness before any segment: %d %s", code, body)
	}
	hlstest.StartSender(t, hlstest.SenderOptions{URL: "udp://239.6.3.1:5000", Video: "h264"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d.plays(t, ctx, "mon", 2)
	httpGet(t, d.base+"/mon/index.mpd") // packaged forms counted too
	for _, p := range []string{"/monitoring/liveness", "/monitoring/readiness"} {
		if code, _, body := httpGet(t, d.base+p); code != 200 {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}

	_, _, metrics := httpGet(t, d.base+"/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(metrics), "\n") {
		if name, _, _ := strings.Cut(strings.SplitN(line, "{", 2)[0], " "); name != "" && name[0] != '#' {
			have[name] = true
		}
	}
	names := regexp.MustCompile(`\b(?:slabcast|process)_[a-z_]+\b`)
	check := func(file, expr string) {
		for _, n := range names.FindAllString(expr, -1) {
			if !have[n] {
				t.Errorf("%s queries %s, which /metrics does not have", file, n)
			}
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	raw, err := os.ReadFile("../../deploy/grafana/slabcast.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("deploy/grafana/slabcast.json: %v, %d panels", err, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			check("the dashboard's panel "+p.Title, tg.Expr)
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/slabcast-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			check("an alert rule", e)
		}
	}
}
