package ingest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slabcast/slabcast/bench/internal/proc"
	"github.com/slabcast/slabcast/nic"
)

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
		u, s, err := proc.StatTimes(stat)
		if err != nil {
			return 0, err
		}
		sum += u + s
	}
	return proc.Ticks(sum), nil
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
