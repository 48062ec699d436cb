package slabd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the kernel's USER_HZ, the unit of /proc times: 100 on every
// Linux architecture Go supports.
const userHZ = 100

// ProcCPU returns the user+system CPU time of process pid, all its threads,
// from /proc/PID/stat (10 ms resolution).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("slabd: %w", err)
	}
	u, s, err := StatTimes(b)
	if err != nil {
		return 0, err
	}
	return time.Duration(u+s) * time.Second / userHZ, nil
}

// TreeCPU returns the user+system CPU time of pid and of its children
// (recursively, as listed by /proc/PID/task/*/children): nginx's master and
// workers.
func TreeCPU(pid int) (time.Duration, error) {
	sum, err := ProcCPU(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range Children(pid) {
		if t, err := TreeCPU(c); err == nil {
			sum += t
		}
	}
	return sum, nil
}

// Children lists the child processes of pid.
func Children(pid int) []int {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(w); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// StatTimes returns utime and stime (fields 14 and 15, in USER_HZ ticks) of
// a /proc stat line. The command name in parentheses may hold spaces, so
// fields are counted after its closing parenthesis.
func StatTimes(stat []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("slabd: bad /proc stat line %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("slabd: short /proc stat line %q", stat)
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err == nil {
		stime, err = strconv.ParseUint(f[12], 10, 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("slabd: /proc stat times: %w", err)
	}
	return utime, stime, nil
}

// CoreBusy returns the time core cpu spent busy since boot (user, nice,
// system, irq, softirq, steal of /proc/stat): every process on that core
// and the kernel's interrupt work.
func CoreBusy(cpu int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("slabd: %w", err)
	}
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
		for _, k := range []int{0, 1, 2, 5, 6, 7} {
			v, err := strconv.ParseUint(f[k], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("slabd: /proc/stat cpu%d: %w", cpu, err)
			}
			sum += v
		}
		return time.Duration(sum) * time.Second / userHZ, nil
	}
	return 0, fmt.Errorf("slabd: /proc/stat has no line for cpu%d", cpu)
}
