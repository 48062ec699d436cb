// Package proc reads the CPU times the benchmarks measure from Linux's
// /proc: a process's user+system time, a core's busy time.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the kernel's USER_HZ, the unit of /proc times: 100 on every
// Linux architecture Go supports.
const userHZ = 100

// Ticks converts a count of USER_HZ ticks to a duration.
func Ticks(t uint64) time.Duration { return time.Duration(t) * time.Second / userHZ }

// ProcessCPU returns the user+system CPU time of process pid, all its
// threads, from /proc/PID/stat (fields 14 and 15), in USER_HZ resolution.
func ProcessCPU(pid int) (time.Duration, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	u, s, err := StatTimes(stat)
	if err != nil {
		return 0, err
	}
	return Ticks(u + s), nil
}

// StatTimes returns utime and stime (fields 14 and 15, in USER_HZ ticks) of
// a /proc stat line. The command name in parentheses may hold spaces, so
// fields are counted after its closing parenthesis.
func StatTimes(stat []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("proc: bad /proc stat line %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("proc: short /proc stat line %q", stat)
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err == nil {
		stime, err = strconv.ParseUint(f[12], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("proc: /proc stat times: %w", err)
	}
	return utime, stime, nil
}

// CoreBusy returns the time core cpu spent busy since boot (user, nice,
// system, irq, softirq, steal from /proc/stat): every process and the
// kernel's interrupt work on that core, not only ours.
func CoreBusy(cpu int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("proc: %w", err)
	}
	return ParseCoreBusy(data, cpu)
}

// ParseCoreBusy is CoreBusy on the contents of /proc/stat.
func ParseCoreBusy(data []byte, cpu int) (time.Duration, error) {
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
				return 0, fmt.Errorf("proc: /proc/stat %s: %w", strings.TrimSpace(prefix), err)
			}
			sum += v
		}
		return Ticks(sum), nil
	}
	return 0, fmt.Errorf("proc: /proc/stat has no line for cpu%d", cpu)
}
