package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/slabcast/slabcast/bpf"
	"github.com/slabcast/slabcast/config"
	"github.com/slabcast/slabcast/nic"
)

// A check result: OK, or what is wrong and the exact command that fixes it.
type finding struct {
	ok   bool
	what string
	fix  string // a command, when not ok
	warn bool   // a warning: printed as WARN, does not fail the check
}

// errCheckFailed makes `slabcast check` exit non-zero when anything needs
// fixing; the findings themselves are already printed.
var errCheckFailed = errors.New("check: some prerequisites need fixing (see FIX lines)")

func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("c", defaultConfig, "config `FILE` whose inputs to check")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: slabcast check [-c FILE]\n\n"+
			"Checks what slabcast needs of this host: receive buffer limit, eBPF socket\n"+
			"filters (CAP_BPF), rp_filter and IGMP version on the input interfaces, cores.\n"+
			"Each line is OK, or FIX with the command that fixes it. Exit status 1 if any\n"+
			"line says FIX. Without a readable config only host-wide checks run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The default config may be absent on a host being prepared; a file
	// named with -c must exist.
	var cfg *config.Config
	var cfgErr error
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "c" })
	if _, err := os.Stat(*path); err == nil || explicit {
		cfg, cfgErr = config.Load(*path, parseOptions)
	}
	return report(os.Stdout, check(cfg, cfgErr, *path, hostFacts{}))
}

func report(w io.Writer, fs []finding) error {
	failed := false
	for _, f := range fs {
		if f.warn {
			fmt.Fprintf(w, "WARN %s\n", f.what)
			continue
		}
		if f.ok {
			fmt.Fprintf(w, "OK   %s\n", f.what)
			continue
		}
		failed = true
		fmt.Fprintf(w, "FIX  %s\n     %s\n", f.what, f.fix)
	}
	if failed {
		return errCheckFailed
	}
	return nil
}

// hostFacts reads the host; tests replace its root to read a fake /proc.
type hostFacts struct{ root string }

func (h hostFacts) sysctl(name string) (int, error) {
	b, err := os.ReadFile(h.root + "/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func check(cfg *config.Config, cfgErr error, path string, h hostFacts) []finding {
	var out []finding
	add := func(ok bool, what, fix string) { out = append(out, finding{ok: ok, what: what, fix: fix}) }

	switch {
	case cfgErr != nil:
		add(false, fmt.Sprintf("config: %v", cfgErr), "fix the file at the line and column named")
	case cfg != nil:
		add(true, fmt.Sprintf("config %s: %d streams", path, len(cfg.Streams)), "")
		// What the config asks that will not happen: so a migration from
		// Flussonic shows what is ignored, and which streams will not start.
		for _, w := range cfg.Warnings {
			out = append(out, finding{warn: true, what: w})
		}
		for _, s := range cfg.Streams {
			switch {
			case s.Problem != "":
				out = append(out, finding{warn: true, what: fmt.Sprintf("%s:%d:%d: stream %s is not started: %s", s.File, s.Line, s.Col, s.Name, s.Problem)})
			case s.Disabled:
				out = append(out, finding{warn: true, what: fmt.Sprintf("%s:%d:%d: stream %s is disabled: not started", s.File, s.Line, s.Col, s.Name)})
			}
		}
	}

	// Cores.
	online := nic.OnlineCPUs()
	if cfg != nil && len(cfg.CPUs) > 0 {
		var missing []string
		for _, c := range cfg.CPUs {
			if !slices.Contains(online, c) {
				missing = append(missing, strconv.Itoa(c))
			}
		}
		if len(missing) > 0 {
			add(false, fmt.Sprintf("cpus: core %s not available to this process (have %v)", strings.Join(missing, ","), online),
				"edit the cpus line of the config to name cores in "+fmt.Sprint(online))
		} else {
			add(true, fmt.Sprintf("cpus: receive workers on cores %v of %d", cfg.CPUs, len(online)), "")
		}
	} else {
		add(true, fmt.Sprintf("cpus: %d cores, one receive worker each", len(online)), "")
	}

	// Receive buffers.
	want := nic.DefaultRecvBuffer
	if rmem, err := h.sysctl("net.core.rmem_max"); err != nil {
		add(false, "net.core.rmem_max: cannot read: "+err.Error(), "check that /proc/sys is mounted")
	} else if hasCap(capNetAdmin) {
		add(true, fmt.Sprintf("receive buffers: %d MiB per input (CAP_NET_ADMIN: SO_RCVBUFFORCE passes net.core.rmem_max=%d)", want>>20, rmem), "")
	} else if rmem < want {
		add(false, fmt.Sprintf("net.core.rmem_max is %d: inputs get less than the %d they ask for and drop bursts", rmem, want),
			fmt.Sprintf("sysctl -w net.core.rmem_max=%d   (or run slabcast with CAP_NET_ADMIN)", want))
	} else {
		add(true, fmt.Sprintf("net.core.rmem_max %d", rmem), "")
	}

	// Socket filter.
	if mode, why := bpf.Probe(); why != nil {
		add(false, fmt.Sprintf("socket filter: %v (eBPF unavailable: %v); refusals are still counted, by marker", mode, why),
			"run slabcast as root or grant CAP_BPF (systemd: AmbientCapabilities=CAP_BPF)")
	} else {
		add(true, "socket filter: eBPF with per-stream counters", "")
	}

	if cfg == nil {
		return out
	}
	// Input interfaces: rp_filter and, for source-specific joins, IGMPv3.
	type ifaceUse struct{ ssm bool }
	ifaces := map[string]*ifaceUse{}
	var order []string
	for _, s := range cfg.Streams {
		for _, in := range s.Inputs {
			src, err := nic.ParseURL(in.URL)
			if err != nil || !src.Multicast {
				continue
			}
			name, err := h.inputIface(src)
			if err != nil {
				add(false, fmt.Sprintf("stream %s: input %s: %v", s.Name, in.URL, err), "check the interface named in the URL, or the route to the group (ip route get "+src.Addr.Addr().String()+")")
				continue
			}
			u, ok := ifaces[name]
			if !ok {
				u = &ifaceUse{}
				ifaces[name] = u
				order = append(order, name)
			}
			u.ssm = u.ssm || src.SSM.IsValid()
		}
	}
	for _, name := range order {
		all, _ := h.sysctl("net.ipv4.conf.all.rp_filter")
		own, err := h.sysctl("net.ipv4.conf." + name + ".rp_filter")
		if err != nil {
			add(false, fmt.Sprintf("%s: rp_filter: %v", name, err), "check the interface exists")
			continue
		}
		// The kernel applies the larger of all and the interface's value.
		if eff := max(all, own); eff == 1 {
			add(false, fmt.Sprintf("%s: rp_filter is strict (1): multicast from sources not routed back through %s is dropped", name, name),
				fmt.Sprintf("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.%s.rp_filter=2", name))
		} else {
			add(true, fmt.Sprintf("%s: rp_filter %d", name, eff), "")
		}
		if !ifaces[name].ssm {
			continue
		}
		allV, _ := h.sysctl("net.ipv4.conf.all.force_igmp_version")
		v, err := h.sysctl("net.ipv4.conf." + name + ".force_igmp_version")
		if err != nil {
			continue
		}
		if forced := max(allV, v); forced == 1 || forced == 2 {
			add(false, fmt.Sprintf("%s: IGMP is forced to version %d: source-specific joins (?source=) need IGMPv3", name, forced),
				fmt.Sprintf("sysctl -w net.ipv4.conf.all.force_igmp_version=0 net.ipv4.conf.%s.force_igmp_version=0", name))
		} else {
			add(true, fmt.Sprintf("%s: IGMPv3 available for source-specific joins", name), "")
		}
	}
	return out
}

// inputIface names the interface a multicast input joins on: the one the
// URL names, the one holding the address the URL names, else the one the
// main routing table sends the group to (longest prefix in /proc/net/route,
// the table the kernel's join uses when no interface is given).
func (h hostFacts) inputIface(src nic.Source) (string, error) {
	if src.Iface != "" {
		return src.Iface, nil
	}
	if addr := src.IfaceAddr; addr.IsValid() {
		ifs, err := net.Interfaces()
		if err != nil {
			return "", err
		}
		for _, i := range ifs {
			as, _ := i.Addrs()
			for _, a := range as {
				if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr {
					return i.Name, nil
				}
			}
		}
		return "", fmt.Errorf("no interface has address %s", addr)
	}
	b, err := os.ReadFile(h.root + "/proc/net/route")
	if err != nil {
		return "", err
	}
	group := src.Addr.Addr().As4()
	g := uint32(group[0]) | uint32(group[1])<<8 | uint32(group[2])<<16 | uint32(group[3])<<24 // as the kernel prints: host order
	best, bestLen := "", -1
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || g&uint32(mask) != uint32(dst) {
			continue
		}
		if n := bitsSet(uint32(mask)); n > bestLen {
			best, bestLen = f[0], n
		}
	}
	if best == "" {
		return "", fmt.Errorf("no route to %s", src.Addr.Addr())
	}
	return best, nil
}

func bitsSet(v uint32) int {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}

const capNetAdmin = 12 // linux/capability.h

// hasCap reports whether the process has capability c in its effective set.
func hasCap(c uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<c) != 0
		}
	}
	return false
}
