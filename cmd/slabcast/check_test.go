package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slabcast/slabcast/internal/testnet"
)

func runCheckCmd(t *testing.T, wrapper []string, args ...string) (string, int) {
	t.Helper()
	all := append(append(append([]string(nil), wrapper...), binary(t), "check"), args...)
	out, err := exec.Command(all[0], all[1:]...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func sysctl(t *testing.T, kv string) {
	t.Helper()
	if out, err := exec.Command("sysctl", "-qw", kv).CombinedOutput(); err != nil {
		t.Fatalf("sysctl %s: %v %s", kv, err, out)
	}
}

// `slabcast check` names each problem with the command that fixes it, and
// running that command makes the check pass. The sysctls changed are this
// private namespace's own.
func TestCheck(t *testing.T) {
	testnet.Require(t)
	conf := filepath.Join(t.TempDir(), "c.conf")
	os.WriteFile(conf, []byte("stream a { input udp://239.1.1.1:5000; }\nstream b { input udp://232.1.1.1:5000?source=127.0.0.1; }\n"), 0o644)
	sysctl(t, "net.ipv4.conf.lo.rp_filter=1")
	sysctl(t, "net.ipv4.conf.lo.force_igmp_version=2")
	out, code := runCheckCmd(t, nil, "-c", conf)
	if code != 1 {
		t.Fatalf("exit %d with strict rp_filter and IGMPv2:\n%s", code, out)
	}
	var fixes []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "FIX") && i+1 < len(lines) {
			fixes = append(fixes, strings.TrimSpace(lines[i+1]))
		}
	}
	if len(fixes) != 2 || !strings.Contains(out, "lo: rp_filter is strict") || !strings.Contains(out, "lo: IGMP is forced to version 2") {
		t.Fatalf("findings:\n%s", out)
	}
	for _, fix := range fixes {
		f := strings.Fields(fix)
		if f[0] != "sysctl" {
			t.Fatalf("fix is not a sysctl command: %q", fix)
		}
		if out, err := exec.Command(f[0], f[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("running the fix %q: %v %s", fix, err, out)
		}
	}
	out, code = runCheckCmd(t, nil, "-c", conf)
	if code != 0 || !strings.Contains(out, "OK   lo: rp_filter 2") || !strings.Contains(out, "OK   lo: IGMPv3 available") ||
		!strings.Contains(out, "OK   socket filter: eBPF") {
		t.Fatalf("after the fixes, exit %d:\n%s", code, out)
	}

	// A broken config is a finding too, with its line and column.
	os.WriteFile(conf, []byte("stream a { input udp://239.1.1.1:5000; segment_count x; }\n"), 0o644)
	out, code = runCheckCmd(t, nil, "-c", conf)
	if code != 1 || !strings.Contains(out, "c.conf:1:54: segment_count: \"x\" is not a whole number") {
		t.Fatalf("bad config: exit %d:\n%s", code, out)
	}
}

// Without CAP_BPF and CAP_NET_ADMIN the check says what is lost and how to
// get it back.
func TestCheckUnprivileged(t *testing.T) {
	testnet.Require(t)
	requireSetpriv(t)
	wrapper := []string{"setpriv", "--inh-caps=-bpf,-sys_admin,-perfmon,-net_admin", "--bounding-set=-bpf,-sys_admin,-perfmon,-net_admin", "--"}
	out, code := runCheckCmd(t, wrapper, "-c", filepath.Join(t.TempDir(), "none.conf"))
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"FIX  socket filter: classic",
		"grant CAP_BPF",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rmem, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(rmem))); n < 16<<20 && !strings.Contains(out, "sysctl -w net.core.rmem_max=16777216") {
		t.Errorf("rmem_max below 16 MiB without CAP_NET_ADMIN, and no fix offered:\n%s", out)
	}
}
