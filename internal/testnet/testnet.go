// Package testnet keeps multicast tests inside a private network namespace.
//
// The default namespace's interfaces lead out of the machine, and multicast
// sent there may leave it. A package whose tests send multicast calls Main
// from its TestMain: when the test binary is not already isolated (a
// namespace whose only interface is lo), Main re-executes it under
// `unshare --net` with lo up, multicast on and 224.0.0.0/4 routed to lo.
// Tests then call Require, which skips (or, with CI=true, fails) when no
// private namespace could be made, for example without root.
package testnet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

const envMarker = "SLABCAST_TESTNET"

// setup brings lo up as a multicast interface, in the namespace unshare
// made.
const setup = `set -e
ip link set lo up
ip link set lo multicast on
ip route replace 224.0.0.0/4 dev lo
exec "$@"`

var whyNot string

// Isolated reports whether this process sits in a network namespace whose
// only interface is lo, so that nothing it sends can leave the machine.
//
// It asks netlink (net.Interfaces), not /sys/class/net: unshare --net does
// not remount sysfs, which keeps listing the parent namespace's interfaces.
func Isolated() bool {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return false
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			return false
		}
	}
	return true
}

// Main runs the tests of a package, inside a fresh private network namespace
// when the process is not in one already. It does not return.
func Main(m *testing.M) {
	if Isolated() {
		// Already private (make test, or our own re-exec): make sure lo
		// carries multicast even when whoever made the namespace did not.
		if err := exec.Command("sh", "-c", setup, "testnet", "true").Run(); err != nil {
			whyNot = "cannot route 224.0.0.0/4 over lo in this namespace: " + err.Error()
		}
		os.Exit(m.Run())
	}
	if os.Getenv(envMarker) != "" {
		whyNot = "re-executed under unshare --net but still not isolated"
		os.Exit(m.Run())
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		whyNot = "unshare(1) not found; cannot make a private network namespace"
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		whyNot = "needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to make a private network namespace"
		os.Exit(m.Run())
	}
	exe, err := os.Executable()
	if err != nil {
		whyNot = "cannot find own executable: " + err.Error()
		os.Exit(m.Run())
	}
	args := append([]string{"--net", "--", "sh", "-c", setup, "testnet", exe}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envMarker+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintf(os.Stderr, "testnet: unshare --net: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Require stops t unless the process is in a private network namespace where
// multicast stays on lo. It skips with the reason when unprivileged, and fails
// under CI (CI=true), where the suite must run whole.
func Require(t testing.TB) {
	t.Helper()
	if Isolated() && whyNot == "" {
		return
	}
	reason := whyNot
	if reason == "" {
		reason = "not in a private network namespace (call testnet.Main from TestMain)"
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("testnet: %s", reason)
	}
	t.Skipf("testnet: %s", reason)
}
