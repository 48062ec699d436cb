package channels

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// userHZ is the kernel's USER_HZ, the unit of /proc times: 100 on every
// Linux architecture Go supports.
const userHZ = 100

func ticks(t uint64) time.Duration { return time.Duration(t) * time.Second / userHZ }

// ProcessCPU returns the user+system CPU time of process pid, all its
// threads, from /proc/PID/stat (fields 14 and 15), in USER_HZ resolution.
func ProcessCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("channels: %w", err)
	}
	u, s, err := statTimes(stat)
	if err != nil {
		return 0, err
	}
	return ticks(u + s), nil
}

// statTimes returns utime and stime (fields 14 and 15) of a /proc stat line.
// The command name in parentheses may hold spaces, so fields are counted
// after its closing parenthesis.
func statTimes(stat []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("channels: bad /proc stat line %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("channels: short /proc stat line %q", stat)
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err == nil {
		stime, err = strconv.ParseUint(f[12], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("channels: /proc stat times: %w", err)
	}
	return utime, stime, nil
}

// CoreBusy returns the time core cpu spent busy since boot (user, nice,
// system, irq, softirq, steal from /proc/stat): every process and the
// kernel's interrupt work on that core, not only ours.
func CoreBusy(cpu int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("channels: %w", err)
	}
	return parseCoreBusy(data, cpu)
}

func parseCoreBusy(data []byte, cpu int) (time.Duration, error) {
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)[1:]
		if len(f) < 8 {
			break
		}
		var sum uint64
		for _, k := range []int{0, 1, 2, 5, 6, 7} { // user nice system irq softirq steal
			v, err := strconv.ParseUint(f[k], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("channels: /proc/stat %s: %w", strings.TrimSpace(prefix), err)
			}
			sum += v
		}
		return ticks(sum), nil
	}
	return 0, fmt.Errorf("channels: /proc/stat has no line for cpu%d", cpu)
}

// MemStatus is the resident memory of a process, from /proc/PID/status.
type MemStatus struct {
	VmRSS, RssAnon, RssFile, RssShmem int64 // bytes
	VmHWM                             int64 // peak resident, bytes
}

// ProcessMemory reads the resident memory of process pid.
func ProcessMemory(pid int) (MemStatus, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return MemStatus{}, fmt.Errorf("channels: %w", err)
	}
	return parseMemStatus(data)
}

func parseMemStatus(data []byte) (MemStatus, error) {
	var m MemStatus
	fields := map[string]*int64{"VmRSS": &m.VmRSS, "RssAnon": &m.RssAnon, "RssFile": &m.RssFile,
		"RssShmem": &m.RssShmem, "VmHWM": &m.VmHWM}
	found := 0
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(line, ":")
		p := fields[k]
		if !ok || p == nil {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("channels: /proc status %s: %q", k, strings.TrimSpace(v))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("channels: /proc status %s: %w", k, err)
		}
		*p = n << 10
		found++
	}
	if found != len(fields) {
		return m, fmt.Errorf("channels: /proc status has %d of the %d memory fields", found, len(fields))
	}
	return m, nil
}

// UDPDrops returns, for every UDP socket of this network namespace bound to
// one of ports, the datagrams the kernel dropped on it (the last column of
// /proc/net/udp: receive buffer full, or refused by a socket filter), summed
// per port. Ports with no socket are absent.
func UDPDrops(ports map[uint16]bool) (map[uint16]uint64, error) {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	return parseUDPDrops(data, ports)
}

func parseUDPDrops(data []byte, ports map[uint16]bool) (map[uint16]uint64, error) {
	out := map[uint16]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			continue
		}
		_, port, ok := strings.Cut(f[1], ":")
		if !ok || len(port) != 4 {
			return nil, fmt.Errorf("channels: /proc/net/udp address %q", f[1])
		}
		b, err := hex.DecodeString(port)
		if err != nil {
			return nil, fmt.Errorf("channels: /proc/net/udp port %q: %w", port, err)
		}
		p := uint16(b[0])<<8 | uint16(b[1])
		if !ports[p] {
			continue
		}
		d, err := strconv.ParseUint(f[len(f)-1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("channels: /proc/net/udp drops %q: %w", f[len(f)-1], err)
		}
		out[p] += d
	}
	return out, sc.Err()
}

// SteerTo sets receive packet steering on this namespace's lo so that the
// kernel's receive half of every looped datagram (IP, UDP, the socket
// filter, queueing) runs on cpu, as a NIC's interrupt would on a tuned
// headend, instead of in the sender's system call on the sender's core;
// cpu < 0 turns steering off. sysfs shows the devices of the namespace that
// mounted it, so the setting is written through a sysfs mounted in a
// throwaway mount namespace (unshare --mount) made from this network
// namespace: the host's lo is never touched. Callers must be in a private
// network namespace.
func SteerTo(cpu int) error {
	mask := "0"
	if cpu >= 0 {
		if cpu >= 64 {
			return fmt.Errorf("channels: steering to cpu %d: only cpus 0-63", cpu)
		}
		mask = strconv.FormatUint(1<<cpu, 16)
	}
	script := "mount -t sysfs sysfs /sys && echo " + mask + " > /sys/class/net/lo/queues/rx-0/rps_cpus"
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("channels: receive packet steering on lo: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
