package ingest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/nic"
)

// userHZ is the kernel's USER_HZ, the unit of /proc times: 100 on every
// Linux architecture Go supports.
const userHZ = 100

func ticks(t uint64) time.Duration { return time.Duration(t) * time.Second / userHZ }

// threadCPU returns the user+system CPU time of this process's threads whose
// affinity is exactly {cpu} (the receiver's pinned thread), from
// /proc/self/task/*/stat, in USER_HZ resolution.
func threadCPU(cpu int) (time.Duration, error) {
	dirs, err := filepath.Glob("/proc/self/task/*")
	if err != nil {
		return 0, fmt.Errorf("ingest: %w", err)
	}
	want := strconv.Itoa(cpu)
	var sum uint64
	for _, d := range dirs {
		st, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue // the thread ended
		}
		if allowedList(st) != want {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		u, s, err := statTimes(stat)
		if err != nil {
			return 0, err
		}
		sum += u + s
	}
	return ticks(sum), nil
}

// allowedList returns the Cpus_allowed_list of a /proc status file.
func allowedList(status []byte) string {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("Cpus_allowed_list:")); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}

// statTimes returns utime and stime (fields 14 and 15) of a /proc stat line.
// The command name in parentheses may hold spaces, so fields are counted
// after its closing parenthesis.
func statTimes(stat []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("ingest: bad /proc stat line %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("ingest: short /proc stat line %q", stat)
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err == nil {
		stime, err = strconv.ParseUint(f[12], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("ingest: /proc stat times: %w", err)
	}
	return utime, stime, nil
}

// coreBusy returns the time core cpu spent busy since boot (user, nice,
// system, irq, softirq, steal from /proc/stat): every process and the
// kernel's interrupt work on that core, not only ours.
func coreBusy(cpu int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("ingest: %w", err)
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
				return 0, fmt.Errorf("ingest: /proc/stat %s: %w", strings.TrimSpace(prefix), err)
			}
			sum += v
		}
		return ticks(sum), nil
	}
	return 0, fmt.Errorf("ingest: /proc/stat has no line for cpu%d", cpu)
}

// ReadMachine describes the machine: CPU model, cores, kernel, load.
func ReadMachine() Machine {
	m := Machine{CPUs: len(nic.OnlineCPUs())}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) +
			" " + unix.ByteSliceToString(u.Machine[:])
	}
	m.Load = readLoad()
	return m
}

// readLoad returns /proc/loadavg's first three fields, "" if unreadable.
func readLoad() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// backlogDrops returns the packets the kernel dropped because a core's
// input backlog (net.core.netdev_max_backlog) was full, summed over every
// core: column 2 of /proc/net/softnet_stat. It is machine-wide.
func backlogDrops() (uint64, error) {
	data, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0, fmt.Errorf("ingest: %w", err)
	}
	return parseBacklogDrops(data)
}

func parseBacklogDrops(data []byte) (uint64, error) {
	var sum uint64
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("ingest: /proc/net/softnet_stat: %w", err)
		}
		sum += v
	}
	return sum, nil
}

// steerTo sets receive packet steering on this namespace's lo so that the
// kernel's receive half of every looped datagram (IP, UDP, the socket
// filter, queueing) runs on cpu, as a NIC's interrupt would on a tuned
// headend, instead of in the sender's system call on the sender's core;
// cpu < 0 turns steering off. sysfs shows the devices of the namespace that
// mounted it, so the setting is written through a sysfs mounted in a
// throwaway mount namespace (unshare --mount) made from this network
// namespace: the host's lo is never touched. Callers must be in a private
// network namespace.
func steerTo(cpu int) error {
	mask := "0"
	if cpu >= 0 {
		if cpu >= 64 {
			return fmt.Errorf("ingest: steering to cpu %d: only cpus 0-63", cpu)
		}
		mask = strconv.FormatUint(1<<cpu, 16)
	}
	script := "mount -t sysfs sysfs /sys && echo " + mask + " > /sys/class/net/lo/queues/rx-0/rps_cpus"
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ingest: receive packet steering on lo: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
