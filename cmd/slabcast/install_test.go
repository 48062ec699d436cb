//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// make install, staged: the files land where the service expects them,
// systemd-analyze verifies the unit and scores its exposure, the sysctl
// drop-in names settings this kernel has, and the example config loads.
func TestInstall(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		toolMissing(t, "no systemd-analyze (Debian's systemd): %v", err)
	}
	stage := t.TempDir()
	out, err := exec.Command("make", "-C", "../..", "install", "DESTDIR="+stage).CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(stage, "usr/local/bin/slabcast")
	for _, f := range []string{bin, "etc/systemd/system/slabcast.service", "etc/sysctl.d/90-slabcast.conf", "etc/slabcast/slabcast.conf",
		"usr/local/share/slabcast/prometheus/slabcast-alerts.yml", "usr/local/share/slabcast/grafana/slabcast.json",
		"usr/local/share/slabcast/nginx/slabcast-edge.conf"} {
		if !filepath.IsAbs(f) {
			f = filepath.Join(stage, f)
		}
		if _, err := os.Stat(f); err != nil {
			t.Errorf("make install left no %s", f)
		}
	}

	// The unit, pointed at the staged binary (verify checks that its
	// commands exist).
	unit, err := os.ReadFile(filepath.Join(stage, "etc/systemd/system/slabcast.service"))
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(t.TempDir(), "slabcast.service")
	if err := os.WriteFile(staged, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/slabcast", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", staged).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", staged).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for slabcast.service: ([0-9.]+) (\w+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %s %s (0 is the most locked down, 10 the least)", m[1], m[2])
	if score > 3.0 {
		t.Errorf("the unit's exposure is %.1f, above 3.0: hardening was lost\n%s", score, out)
	}

	// The sysctl drop-in names settings this kernel has.
	conf, err := os.ReadFile(filepath.Join(stage, "etc/sysctl.d/90-slabcast.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(conf), "\n") {
		key, _, ok := strings.Cut(line, "=")
		if line = strings.TrimSpace(line); !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(strings.TrimSpace(key), ".", "/")); err != nil {
			t.Errorf("sysctl %s: %v", strings.TrimSpace(key), err)
		}
	}
	// The example config loads.
	if out, err := exec.Command(bin, "check", "-c", filepath.Join(stage, "etc/slabcast/slabcast.conf")).CombinedOutput(); !strings.Contains(string(out), "OK   config") {
		t.Errorf("slabcast check on the example config: %v\n%s", err, out)
	}
}
